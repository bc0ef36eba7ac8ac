"""Unit dossiers, cards and the atlas against references: numpy over the layer's own outputs, the plain search
run alone, and the files read back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cnnviz.activations import layer_output
from cnnviz.atlas import build_atlas
from cnnviz.card import MAX_CARD_BYTES, card_html
from cnnviz.cli import main
from cnnviz.dossier import dossier, layer_dossiers
from cnnviz.oip import initial_images, layer_values, run_oip
from cnnviz.search import DossierSettings, OIPItem, Unit
from cnnviz.stats import reproducibility_score

SMALL = DossierSettings(seeds=2, steps=12, dead_noises=40, top=50, k=5)
N = 2000  # test images


@pytest.fixture(scope="module")
def maps13(default_model, mnist):
    return layer_dossiers(default_model, "Conv2D_3", [13, 25], mnist.x_test[:N], mnist.y_test[:N], SMALL)


def test_exemplars_and_classes_match_numpy(default_model, mnist, maps13):
    x = default_model.standardization.apply(mnist.x_test[:N])
    acts = np.concatenate([a for _, a in layer_output(default_model, "Conv2D_3", x)])
    y = mnist.y_test[:N]
    for d, unit in zip(maps13, [13, 25]):
        mean = acts[..., unit].mean((1, 2))
        order = np.argsort(-mean, kind="stable")
        np.testing.assert_array_equal(d.top_indices, order[:SMALL.k])
        np.testing.assert_array_equal(d.bottom_indices, order[::-1][:SMALL.k])
        np.testing.assert_allclose(d.top_values, mean[order[:SMALL.k]], rtol=1e-4)
        np.testing.assert_array_equal(d.top_images, mnist.x_test[:N][order[:SMALL.k]])
        np.testing.assert_allclose(d.class_mean, [mean[y == c].mean() for c in range(10)], rtol=1e-4)
        assert np.all(d.class_ci95[:, 0] < d.class_mean) and np.all(d.class_mean < d.class_ci95[:, 1])
        np.testing.assert_allclose(d.top_share, np.bincount(y[order[:SMALL.top]], minlength=10) / SMALL.top)
        assert d.test_mean == pytest.approx(float(mean.mean()), rel=1e-4)
        assert d.silent == pytest.approx(float((mean <= 1e-6).mean()))
        hot = np.unravel_index(acts[..., unit].mean(0).argmax(), acts.shape[1:3])
        assert d.hottest == (int(hot[1]), int(hot[0]))
        assert d.patches is not None and d.patches.shape == (SMALL.k, 18, 18)


def test_searches_equal_the_plain_search_alone(default_model, maps13):
    """Batched with another unit and padded to equal batches, each OIP is the one its search finds alone."""
    d = maps13[1]
    settings = SMALL.settings
    s = next(i for i, (n, w) in enumerate(settings) if n == "bandpass" and w == 14)
    alone = run_oip(default_model, [OIPItem("Conv2D_3", 25, 1, (14.0,), None, "bandpass")], SMALL.config)
    np.testing.assert_allclose(d.oips[s, 1].astype(np.float32), alone.images[0], atol=2e-2)
    assert d.ends[s, 1] == pytest.approx(float(alone.end_activation[0]), rel=1e-3)
    per = reproducibility_score(d.oips[s][None].astype(np.float32), 4)[0]
    assert d.setting_scores[s] == pytest.approx(per, abs=1e-3)
    assert d.ends[d.best] == d.ends.max()
    assert len(d.frames) == SMALL.steps // SMALL.config.frame_every + 1


def test_dead_at_start_counts_the_closed_noises(default_model, maps13):
    for w, rate in zip(SMALL.wavelengths, maps13[0].dead or []):
        noise = initial_images([OIPItem("Conv2D_3", 0, s, (w,)) for s in range(SMALL.dead_noises)], (28, 28))
        v = layer_values(default_model, "Conv2D_3", noise)[..., 13].mean((1, 2))
        assert rate.k == int((v <= 1e-6).sum()) and rate.n == SMALL.dead_noises


def test_dense_units_and_classes(default_model, mnist):
    dense, = layer_dossiers(default_model, "Dense_1", [5], mnist.x_test[:N], mnist.y_test[:N], SMALL)
    cls, = layer_dossiers(default_model, "Dense_2", [7], mnist.x_test[:N], mnist.y_test[:N], SMALL)
    assert dense.dead is not None and cls.dead is None and cls.silent is None
    values = layer_values(default_model, "Dense_1", default_model.standardization.apply(mnist.x_test[:N]))[:, 5]
    assert dense.silent == pytest.approx(float((values <= 1e-6).mean()))
    assert ("Silent on the test set" in dict(dense.facts())) == (dense.silent > 0)
    assert cls.name == "class 7" and int(np.argmax(cls.top_share)) == 7 and cls.top_share[7] > 0.9
    facts = dict(cls.facts())
    assert facts["Receptive field"] == "the whole image" and "before the softmax" in facts["Dead at start"]
    assert dense.location.shape == (28, 28) and dense.patches is None


def test_bad_units_are_refused(default_model, mnist):
    with pytest.raises(ValueError, match="units must be in 0..63"):
        layer_dossiers(default_model, "Conv2D_3", [64], mnist.x_test[:N], mnist.y_test[:N], SMALL)
    with pytest.raises(ValueError, match="images must be"):
        layer_dossiers(default_model, "Conv2D_3", [1], mnist.x_test[:10], mnist.y_test[:10], SMALL)


def _loads(page: str) -> list[str]:
    """Every resource the page would load: src attributes, stylesheets, scripts, CSS url()."""
    return re.findall(r'\ssrc="([^"]*)"', page) + re.findall(r"<link[^>]*>|<script[^>]*>|url\(", page)


def test_card_is_self_contained_and_says_the_facts(default_model, mnist, tmp_path, maps13):
    page = card_html(maps13[0], "http://localhost:8050/unit?layer=Conv2D_3&map=13")
    assert len(page.encode()) <= MAX_CARD_BYTES
    srcs = _loads(page)
    assert len(srcs) >= 6 and all(s.startswith("data:image/") for s in srcs), [s[:40] for s in srcs]
    for what, value in maps13[0].facts():
        assert f"<td>{what}</td><td>{value.replace('&', '&amp;')}</td>" in page
    assert 'href="http://localhost:8050/unit?layer=Conv2D_3&amp;map=13"' in page


@pytest.mark.system  # the command end to end
def test_card_command_and_its_errors(tmp_path, capsys):
    out = tmp_path / "card.html"
    assert main(["card", "--layer", "Dense_2", "--class", "3", "--out", str(out), "--json"]) == 0
    page = out.read_text()
    assert "default · Dense_2 class 3" in page and len(page.encode()) <= MAX_CARD_BYTES
    assert all(s.startswith("data:image/") for s in _loads(page))
    capsys.readouterr()
    assert main(["card", "--layer", "Conv2D_3", "--map", "64", "--out", str(out)]) == 2
    assert "Conv2D_3 has units 0..63. Received: 64" in capsys.readouterr().err
    assert main(["card", "--layer", "Flatten", "--map", "1", "--out", str(out)]) == 2
    assert "choose a layer of maps" in capsys.readouterr().err
    assert main(["card", "--layer", "Conv2D_3", "--out", str(out)]) == 2
    assert "exactly one of --map, --unit or --class" in capsys.readouterr().err


@pytest.mark.system  # a whole (one-layer) atlas written and read back
def test_atlas_pages_and_links(default_model, mnist, tmp_path):
    out = tmp_path / "atlas"
    r = build_atlas(default_model, out, mnist.x_test[:N], mnist.y_test[:N], ["Dense_2"], SMALL,
                    live_url="http://example.org")
    pages = sorted(out.glob("units/*/*.html"))
    assert r.pages == len(pages) == 10 and r.layers == {"Dense_2": 10}
    index = (out / "index.html").read_text()
    links = re.findall(r'<a href="([^"]+)"', index)
    assert sorted(links) == sorted(f"units/Dense_2/{i}.html" for i in range(10))
    for page in pages:
        text = page.read_text()
        for link in re.findall(r'<a href="([^"]+)"', text):
            if not link.startswith("http"):
                assert (page.parent / link).resolve().is_file(), (page, link)
        assert all(s.startswith("data:image/") for s in _loads(text))
    assert "7.html" in (out / "units/Dense_2/6.html").read_text() and r.searches_seconds > 0
    again = build_atlas(default_model, out, mnist.x_test[:N], mnist.y_test[:N], ["Dense_2"], SMALL)
    assert again.pages == 10 and not list(tmp_path.glob(".atlas*"))  # replaced in place, no leftovers
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="is not an atlas"):
        build_atlas(default_model, tmp_path / "mine", mnist.x_test[:N], mnist.y_test[:N], ["Dense_2"], SMALL)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_one_unit_has_its_circuit(default_model, mnist):
    d = dossier(default_model, Unit("Conv2D_2", 7), mnist.x_test[:N], mnist.y_test[:N], SMALL)
    assert d is not None and d.circuit is not None and d.circuit.incoming_layer in ("Conv2D_1", "MaxPool_1")
    assert "Incoming circuit" in dict(d.facts()) and d.timeline is None  # the default model has no history
    assert Path(d.model).name == "default"
