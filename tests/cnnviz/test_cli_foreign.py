"""Every CLI command on the foreign models, and ``cnnviz import``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ..conftest import ROOT
from .test_cli import run

FOREIGN = ["byo", "residual", "rgb"]


def _json(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err[-2000:]
    return json.loads(out)


@pytest.mark.parametrize("name", FOREIGN)
def test_every_command_on_a_foreign_model(foreign, capsys, tmp_path, name):
    m = foreign[name]
    model = str(m.path)
    maps = [r.name for r in m.layers if r.spatial]
    info = _json(capsys, "info", "--model", model, "--json")
    assert info["input_shape"] == list(m.input_shape) and len(info["classes"]) == m.num_classes

    code, out, err = run(capsys, "activations", "--model", model, "--image-index", "3", "--out", str(tmp_path / "a.png"))
    assert code == 0, err
    assert json.loads(out)["layer"] == maps[0] and (tmp_path / "a.png").stat().st_size > 100

    for method in ("saliency", "smoothgrad", "gradcam"):
        res = _json(capsys, "attribution", "--model", model, "--image-index", "3", "--method", method,
                    "--out", str(tmp_path / method), "--json")
        assert {"method", "layer", "class", "predicted"} <= set(res) and res["method"] == method
        with np.load(tmp_path / method / "attribution.npz") as f:
            assert f["map"].shape == m.input_shape[:2] and f["map"].dtype.kind == "f"
        assert (res["layer"] == maps[-1]) if method == "gradcam" else res["layer"] is None
    res = _json(capsys, "attribution", "--model", model, "--image-index", "3", "--method", "gradcam", "--layer",
                maps[0], "--class", "2", "--out", str(tmp_path / "g2"), "--json")
    assert res["layer"] == maps[0] and res["class"] == 2

    for layer in [maps[-1], *m.dense_layers, m.output_layer]:
        res = _json(capsys, "oip", "--model", model, "--layer", layer, "--maps", "0,1", "--steps", "6",
                    "--wavelength", "4", "--out", str(tmp_path / f"oip-{layer}"), "--json")
        assert len(res["items"]) == 2 and (tmp_path / f"oip-{layer}" / "oip.gif").is_file()
        with np.load(tmp_path / f"oip-{layer}" / "oip.npz") as f:
            assert f["images"].shape == (2, *m.image_shape)

    small = ["--model", model, "--steps", "4", "--seeds", "1"]
    res = _json(capsys, "sweep", *small, "--maps", "0-1", "--wavelengths", "1,4", "--png", str(tmp_path / "sw.png"))
    assert res["layer"] == maps[-1]
    assert _json(capsys, "reproducibility", "--model", model, "--steps", "4", "--seeds", "2", "--maps", "0-1")
    res = _json(capsys, "exemplars", *small, "--map", "0", "--k", "3", "--png", str(tmp_path / "ex.png"))
    assert (tmp_path / "ex.png").is_file() and res
    assert _json(capsys, "hand", "--model", model, "--steps", "3", "--seeds", "2", "--wavelengths", "1,4",
                 "--noises", "lowpass", "--png", str(tmp_path / "hand.png"))
    assert (tmp_path / "hand.png").is_file()
    res = _json(capsys, "compare", model, model, "--images", "100")
    assert res["model_a"] == res["model_b"]


def test_a_node_on_a_dense_layer_is_one_clear_line(foreign, capsys, tmp_path):
    code, _, err = run(capsys, "oip", "--model", str(foreign["byo"].path), "--layer", "fc", "--maps", "0",
                       "--node", "1,1", "--out", str(tmp_path))
    assert code == 2 and err.strip().startswith("error: A node can be chosen on a layer of maps only")


def test_import_checks_measures_and_writes_atomically(foreign, tmp_path):
    """The real entry point: a model without metadata, its data set, and the mistakes users make."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("byo", "rgb"):
        (src / f"{name}.keras").write_bytes(foreign[name].path.read_bytes())
    dest = tmp_path / "models"
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(dest)}

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "cnnviz", *argv], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    p = cli("import", str(src / "byo.keras"), "--dataset", "mnist")
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    assert meta["test_accuracy"] == pytest.approx(foreign["byo"].metadata["test_accuracy"], abs=1e-6)
    assert meta["input_shape"] == [28, 28, 1] and (dest / "byo.json").is_file() and (dest / "byo.keras").is_file()
    assert sorted(p.name for p in dest.iterdir()) == ["byo.json", "byo.keras"]  # no temporary files left

    bad = [
        (("import", str(src / "byo.keras"), "--dataset", str(foreign["data"]), "--name", "x"), "takes images of shape"),
        (("import", str(src / "rgb.keras"), "--dataset", "mnist", "--name", "y"), "takes images of shape"),
        (("import", str(src / "byo.keras"), "--dataset", "mnist"), "exists; choose another --name"),
        (("import", str(src / "byo.keras"), "--dataset", "mnist", "--name", "z", "--mean", "0.1"), "both --mean"),
        (("import", str(src / "byo.keras"), "--dataset", "cifar"), "--dataset must be one of"),
        (("import", str(src / "nope.keras"), "--dataset", "mnist"), "Expected an existing .keras"),
        (("import", str(src / "byo.keras"), "--dataset", "mnist", "--name", "../evil"), "A model name"),
    ]
    for argv, match in bad:
        p = cli(*argv)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1 and match in lines[0], (argv, p.stderr)
    assert sorted(p.name for p in dest.iterdir()) == ["byo.json", "byo.keras"]

    p = cli("import", str(src / "rgb.keras"), "--dataset", str(foreign["data"]), "--mean", "0.2", "--std", "0.3")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["standardization"] == {"mean": 0.2, "std": 0.3}
    assert json.loads(p.stdout)["class_names"] == ["red", "green", "blue", "white"]


def test_a_model_without_metadata_is_listed_with_its_import_command(foreign, tmp_path):
    from cnnviz.catalog import import_command, list_models, unimported_models

    (tmp_path / "mine.keras").write_bytes(foreign["byo"].path.read_bytes())
    assert list_models(tmp_path) == [] and unimported_models(tmp_path) == ["mine"]
    assert import_command(tmp_path, "mine").startswith(f"python -m cnnviz import {tmp_path / 'mine.keras'} --dataset")


def test_the_articles_cnn_trains_on_an_npz_data_set(foreign, capsys, tmp_path):
    """Training on a colour data set of one's own: the seed's CNN with the data's input shape and classes."""
    out = tmp_path / "blobs-cnn.keras"
    code, stdout, err = run(capsys, "train", "--dataset", str(foreign["data"]), "--epochs", "2", "--out", str(out))
    assert code == 0, err[-2000:]
    assert json.loads(stdout.strip().splitlines()[-1])["test_accuracy"] > 0.5  # 4 classes: chance is 0.25
    info = _json(capsys, "info", "--model", str(out), "--json")
    assert info["input_shape"] == [32, 32, 3] and info["classes"] == ["red", "green", "blue", "white"]
    assert info["dataset"] == str(foreign["data"].resolve())
    res = _json(capsys, "oip", "--model", str(out), "--layer", "Dense_2", "--maps", "1", "--steps", "5",
                "--out", str(tmp_path / "o"), "--json")
    assert res["layer_role"] == "output"
