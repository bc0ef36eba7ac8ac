"""The pages' callbacks called as plain functions, on the real operations served in this process (no browser,
no engine processes): what each returns for good input, the message for bad input, the reference for a fault."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from dash import no_update

from app.engine import EngineError

from .conftest import triggered

W1, W2 = "1" * 32, "2" * 32  # two watchers (browser sessions)
FORM = dict(layer=4, map=5, whole=False, node_on=False, node_x=1, node_y=1, waves=[0, 2], mix=False, seeds=2, steps=60,
            step_size=0.1, blur=4, sigma=0.5, jitter=0, noise="lowpass", method="redirected", in_range="auto")


def text(component) -> str:
    return str(component.children) if component is not None and component is not no_update else ""


@pytest.mark.parametrize("layer,maps", [("Conv2D_1", 32), ("MaxPool_1", 32), ("Conv2D_2", 64), ("MaxPool_2", 64),
                                        ("Conv2D_3", 64)])
def test_maps_render_every_layer(services, layer, maps):
    from app.pages.maps import render

    probs, grid, msg, _, _ = render({"source": "test", "index": 0}, layer, "map", "image", None, "default", None)
    assert msg is None
    assert f"{layer}: {maps} maps" in grid.layout.title.text
    assert int(np.argmax(probs.data[0].y)) == 7


@pytest.mark.parametrize("args,match", [
    (({"source": "test", "index": 0}, "Dense_1", "map", "image", None, "default", None), "layer must be one of"),
    (({"source": "test", "index": 0}, "Conv2D_1", "bogus", "image", None, "default", None), "scale must be one of"),
    (({"source": "nowhere"}, "Conv2D_1", "map", "image", None, "default", None), "Unknown image source"),
    (({"source": "test", "index": 0}, "Conv2D_1", "map", "image", None, "../../etc/passwd", None), "A model name"),
    (({"source": "test", "index": 0}, "Conv2D_1", "map", "image", None, "missing", None), "No such model"),
], ids=["dense-layer", "scale", "source", "path", "unknown-model"])
def test_maps_render_refuses_bad_input(services, args, match):
    from app.pages.maps import render

    probs, grid, msg, _, _ = render(*args)
    assert probs is no_update and grid is no_update
    assert re.search(match, text(msg)), text(msg)


def test_an_index_beyond_the_test_set_shows_the_last_image_and_says_so(services):
    from app.pages.maps import model_controls, render

    _, grid, msg, _, _ = render({"source": "test", "index": 12_345}, "Conv2D_1", "map", "image", None, "default", None)
    assert msg is None and "test image 9999" in grid.layout.title.text
    out = model_controls("default", {"source": "test", "index": 12_345})
    assert out[9] == 9999 and "does not exist in this model (0..9999): 9999 is shown" in text(out[10])


def test_a_fault_is_logged_with_a_reference_and_shown_as_internal(services, monkeypatch, caplog):
    """A KeyError is cnnviz's fault, not the user's: logged with its traceback, shown with the log's reference."""
    from app.pages import maps

    monkeypatch.setattr(maps, "_spatial", lambda model: {}["oops"])
    with caplog.at_level(logging.ERROR, logger="cnnviz"):
        probs, grid, msg, _, _ = maps.render({"source": "test", "index": 0}, 0, "map", "image", None, "default", None)
    ref = re.search(r"Internal error \(KeyError, reference ([0-9a-f]{8})\)", text(msg))
    assert ref and probs is no_update and grid is no_update
    record = next(r for r in caplog.records if ref.group(1) in r.getMessage())
    assert record.exc_info and record.exc_info[0] is KeyError


def test_class_average_waits_for_its_job_then_shows(services):
    from app.pages.maps import compute_class_means, render

    _, grid, _, _, _ = render({"source": "test", "index": 0}, "Conv2D_3", "layer", "average", 3, "default", None)
    assert "computing" in grid.layout.annotations[0].text
    compute_class_means("average", "default")
    _, grid, _, _, _ = render({"source": "test", "index": 0}, "Conv2D_3", "layer", "average", 3, "default", None)
    assert "mean over class 3" in grid.layout.title.text


def test_choosing_a_class_average_leaves_the_chosen_image(services):
    from dash.exceptions import PreventUpdate

    from app.pages.maps import choose_image

    spec = {"source": "test", "index": 18}
    context = {"filename": None, "shapes": [], "model": "default", "mode": "average"}
    with triggered("maps-class.value", 4), pytest.raises(PreventUpdate):
        choose_image(18, 4, None, {}, spec, context)
    with triggered("maps-class.value", 4):
        image, index, _ = choose_image(18, 4, None, {}, spec, {**context, "mode": "image"})
    assert image["index"] != 18 and index == image["index"]  # "this image" mode: the next test image of class 4


def test_engine_reports_errors_and_detaches(services):
    from cnnviz.search import OIPConfig, OIPItem

    eng = services.engine
    with pytest.raises(EngineError, match="No such model"):
        eng.call("activations", model="nope", image=np.zeros((28, 28), np.uint8))
    seen = []

    def detach_once(progress):
        seen.append(progress)
        if len(seen) == 1:
            assert eng.detach("stop-me", W1) is True  # the only watcher: the job is told to stop

    items = [OIPItem("Conv2D_3", m) for m in range(64)]
    res = eng.stream("oip", detach_once, key="stop-me", watcher=W1, model="default", items=items,
                     config=OIPConfig(steps=2000, frame_every=5))
    assert res.stopped and res.steps_done < 2000 and len(seen) >= 1
    acts = eng.call("activations", model="default", image=np.zeros((28, 28), np.uint8))
    assert acts.of("Conv2D_1").shape == (26, 26, 32) and acts.probabilities.shape == (10,)


def test_model_page(services):
    from app.pages.model import show_model

    table, meta, kernels, history, conf, err = show_model("default")
    assert err is None and "96,844" in str(table) and np.asarray(kernels.data[0].z).shape == (2 * 4 - 1, 16 * 4 - 1)
    *_, err = show_model("../default")
    assert "A model name" in text(err)


def test_gallery_shows_the_best_seed_of_each_map():
    from cnnviz.search import OIPItem, OIPResult

    act = np.array([[0, 1], [0, 3], [0, 2], [0, 0], [0, 5], [0, 1], [0, 9], [0, 2]], float)  # 2 maps x 4 items
    images = np.arange(8)[:, None, None] * np.ones((8, 28, 28))
    run = OIPResult([OIPItem("x", 0)] * 8, images, images[None], np.array([0]), act, 1, False, 0.0)
    best, acts = run.best_per_map(4)
    assert best[:, 0, 0].tolist() == [1, 6] and acts.tolist() == [3, 9]


def test_a_full_cache_is_shown_on_the_page_and_in_health(services, monkeypatch):
    import sqlite3

    import dash

    from app.pages.oip import remember
    from app.shell import _banner

    def full(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")

    client = dash.get_app().server.test_client()
    assert client.get("/health").get_json()["status"] == "ok"
    monkeypatch.setattr(services.results.cache, "set", full)
    services.results.recheck()  # /health looks again at most every few seconds
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["status"] == "degraded"
    assert "disk is full" in health.get_json()["cache_error"]
    assert "cannot be written" in text(_banner(1)[0])
    record, msg, *_ = remember(1, None, "default", FORM)
    assert services.unseal(record)["form"]["layer"] == "Conv2D_3" and "cannot be written" in text(msg)
    monkeypatch.undo()
    services.results.recheck()
    assert client.get("/health").get_json()["status"] == "ok" and _banner(2) is None


def test_a_run_record_changed_in_the_browser_is_ignored(services):
    """Records come back from the browser: one the server did not seal (a changed seed count) means nothing."""
    from app.pages.oip import PAGE

    record = PAGE.record("default", FORM, PAGE.request("default", FORM))
    assert PAGE.read(record)[2].seeds == 2
    forged = {**record, "form": {**record["form"], "seeds": 100_000}}
    assert PAGE.read(forged) is None and PAGE.read({**record, "sig": "0" * 32}) is None
    unsealed_but_huge = services.seal({"op": "oip", "model": "default", "form": {**FORM, "seeds": 100_000}})
    assert PAGE.read(unsealed_but_huge) is None  # sealed, yet checked again like a new request: refused


def test_a_run_is_shown_once_done_and_downloaded_labelled_under_a_name_that_says_what_it_is(services):
    import base64
    import io

    from PIL import Image

    from app.pages.oip import CALLBACKS, download, run

    present = CALLBACKS.present

    form = {**FORM, "steps": 10, "seeds": 1, "waves": [2, 2]}
    done, color, msg = run(lambda _p: None, 1, None, "default", form, W1)
    assert color == "success" and "Done: 10 steps, 1 searches" in text(msg)
    with triggered("oip-done.data", done):
        result, *_, shown, status, _poll = present("default", form, done, None, None, None)
    assert "Shown: default · Conv2D_3 map 5, λ = 4" in str(result) and status is no_update
    assert "redirected" in str(result) and "of the pixels lie outside the data's range" in str(result)
    with triggered("oip-gif.n_clicks", 1):
        gif = download(1, None, shown)
    with triggered("oip-png.n_clicks", 1):
        png = download(None, 1, shown)
    stem = "oip-default-Conv2D_3-map5-lam4-lowpass-1seeds-10steps"
    assert gif["filename"] == f"{stem}.gif" and png["filename"] == f"{stem}.png"
    with Image.open(io.BytesIO(base64.b64decode(png["content"]))) as im:
        assert im.height > 28 * 4 + 30  # the picture, its label above it, the title on top
    # the controls change: the result is no longer theirs, and the page says so instead of showing it
    with triggered("oip-map.value", 6):
        result, *_, shown2, _, _ = present("default", {**form, "map": 6}, done, None, shown, None)
    assert "Nothing computed for these settings yet" in str(result) and shown2 is None


def test_the_trust_panel_runs_the_randomisation_test_and_clears_when_the_method_changes(services):
    from app.pages.maps import TRUST_PROMPT, trust

    with triggered("maps-trust-run.n_clicks", 1):
        fig, note = trust(1, "gradcam", "Conv2D_3", "default")
    names = [t.name for t in fig.data]
    assert names == ["image-specific Spearman", "raw Spearman"] and list(fig.data[0].x)[-1] == "Conv2D_1"
    assert fig.data[0].y[0] == pytest.approx(1) and fig.data[0].y[-1] < 0.2
    assert "Grad-CAM passes on default" in text(note[0])
    with triggered("maps-trust-run.n_clicks", 1):
        _, note = trust(1, "saliency", None, "default")
    assert "saliency passes" in text(note[0]) and "shared layout" in note[1]  # raw stays high for saliency
    with triggered("maps-why-method.value", "smoothgrad"):
        fig, note = trust(1, "smoothgrad", None, "default")
    assert note is None and TRUST_PROMPT in str(fig.layout.annotations[0].text)
    with triggered("maps-trust-run.n_clicks", 2):
        _, note = trust(2, "gradcam", "conv_b", "rgb")  # an imported colour model
    assert "Grad-CAM" in text(note[0]) and "on rgb" in text(note[0])
    with triggered("maps-trust-run.n_clicks", 3):
        fig, _ = trust(3, "gradcam", "Conv2D_3", "rgb")  # a layer of another model: a message, no traceback
    assert "Grad-CAM layer must be one of" in str(fig.layout.annotations[0].text)


def test_a_class_oip_of_the_lab_stays_a_possible_input(services):
    from app.pages.oip import CALLBACKS, run

    form = {**FORM, "layer": 6, "map": 3, "steps": 20, "seeds": 1, "waves": [2, 2]}  # Dense_2 (the output), class 3
    done, color, _ = run(lambda _p: None, 1, None, "default", form, W1)
    with triggered("oip-done.data", done):
        result, *_ = CALLBACKS.present("default", form, done, None, None, None)
    assert color == "success" and "Every pixel of every image lies in the data's range" in str(result)
    form = {**form, "in_range": "off", "method": "skip-dead"}
    done, color, _ = run(lambda _p: None, 1, None, "default", form, W1)
    with triggered("oip-done.data", done):
        result, *_ = CALLBACKS.present("default", form, done, None, None, None)
    assert "skip-dead, not kept in the pixel range" in str(result)


@pytest.mark.parametrize("mode, extra, text", [
    ("negative", {}, "mean value on the final images: Conv2D_3:5"),
    ("diversity", {"diversity": 1, "seeds": 3}, "Conv2D_3:5 facets (diversity 1)"),
    ("expression", {"expr": "Conv2D_3:5 + Dense_2:7"}, "of its own plain OIP's value"),  # a sum or a conflict
    ("interpolation", {"to_map": 9, "frames": 5}, "A's share a_A/(a_A + a_B)"),
])
def test_every_objective_mode_runs_in_the_lab_and_shows_a_strip(services, mode, extra, text):
    from app.pages.oip import CALLBACKS, run

    form = {**FORM, "steps": 30, "waves": [2, 2], "mode": mode, **extra}
    done, color, msg = run(lambda _p: None, 1, None, "default", form, W1)
    assert color == "success", msg
    with triggered("oip-done.data", done):
        result, *_ = CALLBACKS.present("default", form, done, None, None, None)
    shown = str(result)
    assert text in shown and "oip-strip" in shown and "ended dead" not in shown, shown[:2000]
    assert "skip-dead" in shown  # the method these modes use, said


@pytest.mark.parametrize("extra, match", [({"mode": "interpolation", "to_map": 5}, "other than 5"),
                                          ({"mode": "expression", "expr": "Conv2D_3:99"}, "Conv2D_3 unit must be in"),
                                          ({"mode": "expression", "expr": "two maps"}, "an expression is units"),
                                          ({"mode": "negative", "whole": True}, "untick “whole layer”"),
                                          ({"mode": "sideways"}, "objective must be one of")])
def test_bad_objective_controls_say_what_to_change(services, extra, match):
    from app.pages.oip import run

    _, color, msg = run(lambda _p: None, 1, None, "default", {**FORM, **extra}, W1)
    assert color is no_update and match in str(msg), msg  # the message says what to change; nothing runs


@pytest.mark.parametrize("name", ["byo", "rgb"])
def test_objective_modes_run_in_the_lab_on_imported_models(services, foreign, name):
    from app.pages.oip import CALLBACKS, run

    m = foreign[name]
    layer = m.spatial_layers[-1]
    output = [row.name for row in m.layers if row.role == "output"][0]
    for mode, extra in (("interpolation", {"to_map": 1, "frames": 4}), ("diversity", {"diversity": 1}),
                        ("expression", {"expr": f"{layer}:0 - {output}:1"}), ("negative", {})):
        form = {**FORM, "layer": layer, "map": 0, "steps": 20, "waves": [2, 2], "mode": mode, **extra}
        done, color, msg = run(lambda _p: None, 1, None, name, form, W1)
        assert color == "success", (mode, msg)
        with triggered("oip-done.data", done):
            result, *_ = CALLBACKS.present(name, form, done, None, None, None)
        assert "oip-strip" in str(result) and "mean value on the final images" in str(result), (mode, str(result)[:500])


def test_the_training_page_shows_the_selected_models_history_or_why_it_has_none(services, monkeypatch):
    import importlib
    from dataclasses import replace

    page = importlib.import_module("app.pages.training")

    assert "default has no training history" in str(page.history("default"))
    real = services.info("default")
    snaps = [{"epoch": 0, "test_accuracy": 0.1}, {"epoch": 0.5, "test_accuracy": 0.9}, {"epoch": 1, "test_accuracy": 0.97}]
    monkeypatch.setattr(page, "info", lambda _m: replace(real, metadata={**real.metadata, "snapshots": snaps}))
    link, graph = page.history("default")
    assert "analysis=timeline" in link.children.href and list(graph.figure.data[0].x) == [0, 0.5, 1]
    assert "3 snapshots" in graph.figure.layout.title.text
