"""Callbacks called as plain functions, on a real engine worker (no browser)."""

import numpy as np
import pytest
from dash import no_update

from app.engine import EngineError


def message_text(component) -> str:
    return str(component.children) if component is not None else ""


@pytest.mark.parametrize("layer,maps", [("Conv2D_1", 32), ("MaxPool_1", 32), ("Conv2D_2", 64), ("MaxPool_2", 64),
                                        ("Conv2D_3", 64)])
def test_maps_render_every_layer(services, layer, maps):
    from app.pages.maps import render

    probs, grid, msg, _ = render({"source": "test", "index": 0}, layer, "map", "image", None, "default", None)
    assert msg is None
    assert f"{layer}: {maps} maps" in grid.layout.title.text
    assert int(np.argmax(probs.data[0].y)) == 7


@pytest.mark.parametrize("args,match", [
    (({"source": "test", "index": 0}, "Dense_1", "map", "image", None, "default", None), "layer must be one of"),
    (({"source": "test", "index": 0}, "Conv2D_1", "bogus", "image", None, "default", None), "scale must be one of"),
    (({"source": "test", "index": -4}, "Conv2D_1", "map", "image", None, "default", None), "0..9999"),
    (({"source": "test", "index": 0}, "Conv2D_1", "map", "image", None, "../../etc/passwd", None), "A model name"),
    (({"source": "test", "index": 0}, "Conv2D_1", "map", "image", None, "missing", None), "No such model"),
], ids=["dense-layer", "scale", "index", "path", "unknown-model"])
def test_maps_render_refuses_bad_input(services, args, match):
    from app.pages.maps import render

    probs, grid, msg, _ = render(*args)
    assert probs is no_update and grid is no_update
    import re

    assert re.search(match, message_text(msg)), message_text(msg)


def test_class_average_waits_for_its_job_then_shows(services):
    from app.pages.maps import compute_class_means, render

    _, grid, _, _ = render({"source": "test", "index": 0}, "Conv2D_3", "layer", "average", 3, "default", None)
    assert "computing" in grid.layout.annotations[0].text
    compute_class_means.__wrapped__("average", "default") if hasattr(compute_class_means, "__wrapped__") else \
        compute_class_means("average", "default")
    _, grid, _, _ = render({"source": "test", "index": 0}, "Conv2D_3", "layer", "average", 3, "default", None)
    assert "mean over class 3" in grid.layout.title.text


OIP_OK = dict(model="default", layer=4, map_=5, whole=False, node_on=False, nx=1, ny=1, waves=[0, 2],
              mix=False, seeds=2, steps=60, step_size=0.1, blur=4, sigma=0.5, jitter=0)


def test_oip_params(services):
    from app.pages.oip import _items, _params

    p = _params(**OIP_OK)
    assert p["layer"] == "Conv2D_3"  # the layer slider's last mark
    assert p["maps"] == [5] and p["wavelength_sets"] == [[1], [2], [4]] and p["config"]["frame_every"] == 2
    assert len(_items(p)) == 6
    whole = _params(**{**OIP_OK, "whole": True, "mix": True, "node_on": True})
    assert whole["maps"] == list(range(64)) and whole["wavelength_sets"] == [[1, 2, 4]] and whole["node"] == [1, 1]


@pytest.mark.parametrize("change,match", [
    ({"layer": "Flatten"}, "layer must be one of"),
    ({"layer": "Dense_1", "node_on": True}, "untick"),
    ({"map_": 64}, r"map must be in 0..63"),
    ({"map_": "x"}, "whole number"),
    ({"node_on": True, "nx": 3}, r"node x must be in 0..2"),
    ({"waves": [3, 9]}, "wavelength range must be two positions"),
    ({"waves": []}, "wavelength range must be two positions"),
    ({"seeds": 9}, r"seeds must be in 1..8"),
    ({"steps": 10_000}, r"steps must be in 1..500"),
    ({"step_size": float("nan")}, "step size"),
    ({"jitter": 5}, "jitter"),
    ({"model": "nope"}, "No such model"),
], ids=["layer", "dense-node", "map", "map-type", "node", "wavelength", "no-wavelength", "seeds", "steps", "step-size",
        "jitter",
        "model"])
def test_oip_params_refuse_bad_input(services, change, match):
    from app.pages.oip import _params

    with pytest.raises((ValueError, EngineError), match=match):
        _params(**{**OIP_OK, **change})


TRAIN_OK = ["mnist", 1, 64, 0.02, "exponential", 0.9, 1e-4, 1000, "fresh-name"]


@pytest.mark.parametrize("index,value,match", [
    (8, "default", "exists already"),
    (8, "../evil", "Model name"),
    (8, None, "Model name"),
    (1, 0, r"epochs must be in 1..50"),
    (2, 5000, "batch size"),
    (3, -1, "learning rate"),
    (4, "cosine", "schedule must be one of"),
    (7, 50, "at least 100"),
    (0, "cifar", "dataset must be one of"),
], ids=["collision", "path", "empty", "epochs", "batch", "lr", "schedule", "subset", "dataset"])
def test_training_form_refuses_bad_input(services, index, value, match):
    from app.pages.training import _config

    form = list(TRAIN_OK)
    form[index] = value
    with pytest.raises(ValueError, match=match):
        _config(*form)


def test_training_form_accepts_good_input(services):
    from app.pages.training import _config

    cfg, name = _config(*TRAIN_OK)
    assert name == "fresh-name" and cfg["subset"] == 1000 and cfg["epochs"] == 1


W1, W2 = "1" * 32, "2" * 32  # two watchers (browser sessions)
OIP_ITEMS = [{"layer": "Conv2D_3", "map": m, "seed": 0, "wavelengths": (1,), "node": None} for m in range(64)]


def test_engine_reports_errors_and_detaches(services):
    eng = services.engine
    with pytest.raises(EngineError, match="No such model"):
        eng.call("activations", model="nope", image=np.zeros((28, 28), np.uint8))
    with pytest.raises(ValueError, match="Unknown engine operation"):
        eng.call("rm_rf")
    seen = []

    def detach_once(progress):
        seen.append(progress)
        if len(seen) == 1:
            assert eng.detach("stop-me", W1) is True  # the only watcher: the job is told to stop

    res = eng.stream("oip", detach_once, key="stop-me", watcher=W1, model="default", items=OIP_ITEMS,
                     config={"steps": 2000, "frame_every": 5})
    assert res.stopped and res.steps_done < 2000 and len(seen) >= 1
    acts = eng.call("activations", model="default", image=np.zeros((28, 28), np.uint8))
    assert acts.layers["Conv2D_1"].shape == (26, 26, 32) and acts.probabilities.shape == (10,)


def test_one_watcher_cancelling_leaves_the_job_running_for_the_other(services):
    """Two users asked for the same search: one cancels, the other still gets the whole result."""
    import threading

    eng = services.engine
    kwargs = dict(key="shared-run", model="default", items=OIP_ITEMS[:16], config={"steps": 300, "frame_every": 10})
    out: dict = {}
    started = threading.Event()

    def second():
        try:
            out["b"] = eng.stream("oip", lambda _p: started.set(), watcher=W2, **kwargs)
        except Exception as e:  # noqa: BLE001
            out["b"] = e

    t = threading.Thread(target=second)
    t.start()
    assert started.wait(60)
    with pytest.raises(EngineError, match="goes on for another user"):
        eng.stream("oip", lambda _p: eng.detach("shared-run", W1), watcher=W1, **kwargs)
    t.join(120)
    assert not out["b"].stopped and out["b"].steps_done == 300


def test_a_training_name_in_use_with_other_settings_is_refused(services, tmp_path):
    eng = services.engine
    cfg = {"dataset": "mnist", "epochs": 1, "subset": 2000}
    out = str(tmp_path / "taken.keras")
    seen = []

    def try_other(_p):
        if not seen:
            seen.append(1)
            with pytest.raises(EngineError, match="taken by a train job that is running with other settings"):
                eng.stream("train", None, key="train:taken", watcher=W2, config={**cfg, "batch_size": 32}, out=out)

    res = eng.stream("train", try_other, key="train:taken", watcher=W1, config=cfg, out=out)
    assert seen and not res.stopped and res.epochs_completed == 1


def test_model_page(services):
    from app.pages.model import show_model

    table, meta, kernels, history, conf, err = show_model("default")
    assert err is None and "96,844" in str(table) and np.asarray(kernels.data[0].z).shape == (2 * 4 - 1, 16 * 4 - 1)
    *_, err = show_model("../default")
    assert "A model name" in message_text(err)


def test_gallery_shows_the_best_seed_of_each_map():
    from app.engine.results import OIPRun

    act = np.array([[0, 1], [0, 3], [0, 2], [0, 0], [0, 5], [0, 1], [0, 9], [0, 2]], float)  # 2 maps x 4 items
    images = np.arange(8)[:, None, None] * np.ones((8, 28, 28))
    run = OIPRun(images, images[None], np.array([0]), act, 1, False, 0.0)
    best, acts = run.best_per_map(4)
    assert best[:, 0, 0].tolist() == [1, 6] and acts.tolist() == [3, 9]


def test_engine_job_outlives_its_client_and_can_be_attached_again(services, tmp_path):
    import diskcache

    eng = services.engine
    items = [{"layer": "Conv2D_2", "map": m, "seed": 1, "wavelengths": (2,), "node": None} for m in range(32)]
    kwargs = dict(key="detached-test", cache=str(tmp_path), model="default", items=items,
                  config={"steps": 300, "frame_every": 10})

    class Leave(Exception):
        pass

    def leave(_progress):
        raise Leave  # the watching process goes away (as when Dash kills a job process)

    with pytest.raises(Leave):
        eng.stream("oip", leave, watcher=W1, **kwargs)
    assert any(j.key == "detached-test" for j in eng.call("list_jobs"))
    res = eng.stream("oip", None, watcher=W1, **kwargs)  # a second client attaches to the same job
    assert not res.stopped and res.steps_done == 300
    with diskcache.Cache(str(tmp_path)) as cache:
        assert cache["detached-test"].steps_done == 300
    assert eng.detach("detached-test", W1) is False  # finished: nothing to stop


def test_a_cancel_flag_in_the_shared_cache_stops_an_engine_job(services, tmp_path):
    """With Celery the job runs in a worker's engine; Cancel reaches it through the shared cache."""
    import diskcache

    from app.engine.protocol import cancel_flag

    items = [{"layer": "Conv2D_3", "map": m, "seed": 2, "wavelengths": (4,), "node": None} for m in range(64)]
    cache = diskcache.Cache(str(tmp_path))

    def flag(_progress):
        cache.set(cancel_flag("flagged", W1), True)

    res = services.engine.stream("oip", flag, key="flagged", watcher=W1, cache=str(tmp_path), model="default",
                                 items=items, config={"steps": 2000, "frame_every": 5})
    assert res.stopped and res.steps_done < 2000
    assert "flagged" not in cache  # a stopped run is not cached as a result


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
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["status"] == "degraded"
    assert "disk is full" in health.get_json()["cache_error"]
    assert "cannot be written" in message_text(_banner(1)[0])
    record, msg, *_ = remember(1, *OIP_OK.values())
    assert record["key"] and "cannot be written" in message_text(msg)
    monkeypatch.undo()
    assert client.get("/health").get_json()["status"] == "ok" and _banner(2) is None
