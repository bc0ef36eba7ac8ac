import json

import numpy as np
import pytest

from cnnviz.catalog import checkpoint_path
from cnnviz.config import TrainConfig
from cnnviz.model import build_model, load_model
from cnnviz.training import evaluate, train

SMALL = dict(subset=2000, validation=1000, epochs=2, batch_size=50, learning_rate=0.05)


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_short_run_improves_and_writes_a_loadable_model(tmp_path, mnist):
    cfg = TrainConfig(**SMALL)
    std_x = (mnist.x_test[:2000] / 255.0 - 0.1307) / 0.3081
    before, _, _ = evaluate(build_model(cfg), std_x[..., None].astype(np.float32), mnist.y_test[:2000])
    reports = []
    result = train(cfg, tmp_path / "small.keras", data=mnist, on_progress=reports.append, progress_every=10)
    assert not result.stopped and result.path == tmp_path / "small.keras"
    meta = json.loads((tmp_path / "small.json").read_text())
    for key in ("dataset", "standardization", "test_accuracy", "test_loss", "config", "history",
                "confusion_matrix", "wall_time_s", "versions", "device"):
        assert key in meta, key
    assert meta["test_accuracy"] > max(0.8, before + 0.5)
    assert meta["standardization"]["mean"] == pytest.approx(0.1307, abs=1e-4)
    assert len(meta["history"]) == 2 and meta["history"][1]["loss"] < meta["history"][0]["loss"]
    ends = [r for r in reports if r.epoch_end]
    assert [r.epoch for r in ends] == [1, 2] and ends[0].val_accuracy is not None
    assert [r.batch for r in reports if r.epoch == 1 and not r.epoch_end][:2] == [10, 20]
    assert ends[1].learning_rate < ends[0].learning_rate  # exponential schedule
    m = load_model(result.path)
    assert m.metadata["test_accuracy"] == meta["test_accuracy"]
    assert not checkpoint_path(result.path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.history", "small.json", "small.keras"]


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_stop_keeps_the_checkpoint_and_resume_continues(tmp_path, mnist):
    cfg = TrainConfig(**{**SMALL, "epochs": 3})
    out = tmp_path / "run.keras"
    seen = []
    stop_at = lambda: len(seen) >= 1 and seen[-1].epoch == 2 and seen[-1].batch >= 5
    r1 = train(cfg, out, data=mnist, on_progress=seen.append, should_stop=stop_at, progress_every=5)
    assert r1.stopped and r1.path is None and r1.epochs_completed == 1
    assert not out.exists() and checkpoint_path(out).is_file()
    state = json.loads(checkpoint_path(out).with_suffix(".json").read_text())
    assert state["epochs_completed"] == 1

    seen2 = []
    r2 = train(cfg, out, data=mnist, on_progress=seen2.append)
    assert not r2.stopped and out.is_file() and r2.epochs_completed == 3
    assert {r.epoch for r in seen2} == {2, 3}  # resumed after epoch 1
    assert r2.history[0] == state["history"][0]


def test_output_path_must_be_keras(tmp_path, mnist):
    with pytest.raises(ValueError, match="must end in .keras"):
        train(TrainConfig(**SMALL), tmp_path / "x.h5", data=mnist)


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_every_epoch_is_kept_as_a_loadable_snapshot_and_resume_keeps_them(tmp_path, mnist):
    import keras

    from cnnviz.history import snapshots

    cfg = TrainConfig(**{**SMALL, "subset": 1500})
    out = tmp_path / "hist.keras"
    seen = []
    stop_at = lambda: len(seen) >= 1 and seen[-1].epoch == 2 and seen[-1].batch >= 5
    assert train(cfg, out, data=mnist, on_progress=seen.append, should_stop=stop_at, progress_every=5).stopped
    result = train(cfg, out, data=mnist)  # resumed after epoch 1: the snapshots of epochs 0 and 1 are kept
    snaps = snapshots(out)
    assert [s["epoch"] for s in snaps] == [0, 1, 2]
    assert [s["epoch"] for s in result.metadata["snapshots"]] == [0, 1, 2]
    assert snaps[0]["test_accuracy"] < 0.25  # the untrained network: chance
    assert snaps[-1]["test_accuracy"] == pytest.approx(result.metadata["test_accuracy"])
    model = keras.models.load_model(out, compile=False)
    model.load_weights(snaps[0]["path"])  # weights only: into the saved model, as cnnviz.history says
    x = ((mnist.x_test[:500] / 255.0 - 0.1307) / 0.3081)[..., None].astype(np.float32)
    acc0 = float((model.predict(x, verbose=0).argmax(1) == mnist.y_test[:500]).mean())
    assert acc0 < 0.25
    assert not checkpoint_path(out).parent.exists()  # nothing left beside the checkpoint
    again = train(TrainConfig(**{**SMALL, "subset": 500, "epochs": 1}), out, data=mnist, resume=False)
    assert [s["epoch"] for s in snapshots(out)] == [0, 1] == [s["epoch"] for s in again.metadata["snapshots"]]
