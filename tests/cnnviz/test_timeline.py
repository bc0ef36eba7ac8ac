"""How maps form during training: the timeline over a training's snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnviz.config import TrainConfig
from cnnviz.search import OIPConfig, Searches


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist):
    from cnnviz.model import load_model
    from cnnviz.training import train

    out = tmp_path_factory.mktemp("timeline") / "t.keras"
    train(TrainConfig(subset=1500, validation=1000, epochs=2, batch_size=50, learning_rate=0.05), out, data=mnist)
    return load_model(out)


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_the_last_snapshot_is_the_final_model_and_maps_converge(trained, mnist):
    from cnnviz.oip import planned_items, run_oip
    from cnnviz.timeline import timeline

    plan = Searches((4.0,), seeds=3, config=OIPConfig(steps=40, frame_every=40))
    t = timeline(trained, "Conv2D_3", [1, 5, 9], plan, images=mnist.x_test[:500])
    assert t.epochs == [0, 1, 2] and t.images.shape == (3, 3, 3, 28, 28) and t.top_indices.shape == (3, 3, 9)
    plain = run_oip(trained, planned_items(trained, "Conv2D_3", [1, 5, 9], plan), plan.config)
    np.testing.assert_allclose(t.images[-1].reshape(9, 28, 28), plain.images, atol=2e-3)  # same noises, same OIPs
    np.testing.assert_allclose(t.correlation[-1], 1, atol=1e-5)
    assert t.mean_correlation[0] < t.mean_correlation[-1]  # from the untrained network towards the final maps
    assert t.accuracy[0] < 0.25 < 0.8 < t.accuracy[-1]
    assert all(f is None or f in t.epochs for f in t.formed_at)
    s = t.summary()
    assert s["epochs"][1]["checkpoint"].endswith("epoch-001.weights.h5") and len(s["epochs"][1]["maps"]) == 3


def test_an_imported_model_says_it_has_no_history(default_model):
    from cnnviz.timeline import timeline

    with pytest.raises(ValueError, match="has no training history"):
        timeline(default_model, "Conv2D_3", [0])


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_timeline_command(trained, capsys, tmp_path):
    from .test_cli import run

    code, out, _ = run(capsys, "timeline", "--model", str(trained.path), "--maps", "0-1", "--seeds", "2", "--steps",
                       "10", "--gif", str(tmp_path / "t.gif"), "--json")
    res = json.loads(out)
    assert code == 0 and [e["epoch"] for e in res["epochs"]] == [0, 1, 2] and set(res["formed_at"]) == {"0", "1"}
    assert res["epochs"][-1]["mean_correlation_with_final"] == pytest.approx(1, abs=1e-5)
    assert (tmp_path / "t.gif").read_bytes()[:3] == b"GIF"


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_snapshots_within_the_first_epoch(tmp_path, mnist, capsys):
    """``--snapshot-every K``: the weights every K batches of the first epoch too, as fractional epochs, loadable,
    and in the timeline between epoch 0 and epoch 1."""
    import keras

    from cnnviz.history import snapshots
    from cnnviz.model import load_model
    from cnnviz.timeline import timeline

    from .test_cli import run

    out = tmp_path / "early.keras"
    code, _, err = run(capsys, "train", "--subset", "1000", "--epochs", "2", "--batch-size", "50", "--snapshot-every",
                       "5", "--out", str(out))  # 20 batches per epoch: after 5, 10 and 15 of the first
    assert code == 0, err[-2000:]
    snaps = snapshots(out)
    assert [s["epoch"] for s in snaps] == [0, 0.25, 0.5, 0.75, 1, 2]
    assert snaps[1]["path"].endswith("epoch-000.2500.weights.h5")
    m = keras.models.load_model(out, compile=False)
    m.load_weights(snaps[1]["path"])
    assert snaps[0]["test_accuracy"] < snaps[2]["test_accuracy"] < snaps[-1]["test_accuracy"] + 0.02
    t = timeline(load_model(out), "Conv2D_3", [0, 1], Searches((4.0,), seeds=2, config=OIPConfig(steps=10)))
    assert t.epochs == [0, 0.25, 0.5, 0.75, 1, 2] and all(f is None or f in t.epochs for f in t.formed_at)
    code, _, err = run(capsys, "train", "--snapshot-every", "-1", "--out", str(tmp_path / "x.keras"))
    assert code == 2 and "snapshot_every must be in" in err


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_a_units_dossier_holds_its_training_timeline(trained, mnist):
    from cnnviz.card import card_html, pictures
    from cnnviz.dossier import dossier
    from cnnviz.search import DossierSettings, Unit

    d = dossier(trained, Unit("Conv2D_3", 2), mnist.x_test[:500], mnist.y_test[:500],
                DossierSettings(seeds=2, steps=10, dead_noises=20, top=50, k=4))
    assert d is not None and d.timeline is not None and d.timeline.epochs == [0, 1, 2]
    assert d.timeline.maps == [2] and d.timeline.images.shape[:3] == (3, 1, 2)
    line = dict(d.facts())["Training timeline"]
    assert "correlation by epoch 0:" in line and line.rstrip().endswith("2: 1.00")  # the last snapshot is the model
    assert [p.title for p in pictures(d)][-1] == "Training timeline"
    assert "Training timeline" in card_html(d)
