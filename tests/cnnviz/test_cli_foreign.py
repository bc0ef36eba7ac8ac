"""Every CLI command on the foreign models, and ``cnnviz import``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .test_cli import run

FOREIGN = ["byo", "residual", "rgb"]


def _json(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err[-2000:]
    return json.loads(out)


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
@pytest.mark.parametrize("name", FOREIGN)
def test_every_command_on_a_foreign_model(foreign, capsys, tmp_path, name):
    m = foreign[name]
    model = str(m.path)
    maps = [r.name for r in m.layers if r.spatial]
    info = _json(capsys, "info", "--model", model, "--json")
    assert info["input_shape"] == list(m.input_shape) and len(info["classes"]) == m.num_classes

    code, out, err = run(capsys, "activations", "--model", model, "--image-index", "3", "--out", str(tmp_path / "a.png"),
                         "--json")
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
    res = _json(capsys, "sweep", *small, "--maps", "0-1", "--wavelengths", "1,4", "--png", str(tmp_path / "sw.png"),
                "--json")
    assert res["layer"] == maps[-1]
    assert _json(capsys, "reproducibility", "--model", model, "--steps", "4", "--seeds", "2", "--maps", "0-1", "--json")
    res = _json(capsys, "exemplars", *small, "--map", "0", "--k", "3", "--png", str(tmp_path / "ex.png"), "--json")
    assert (tmp_path / "ex.png").is_file() and res
    assert _json(capsys, "hand", "--model", model, "--steps", "3", "--seeds", "4", "--blocks", "1", "--wavelengths", "4",
                 "--noises", "lowpass", "--png", str(tmp_path / "hand.png"), "--json")
    assert (tmp_path / "hand.png").is_file()
    res = _json(capsys, "sanity", "--model", model, "--method", "gradcam", "--images", "4", "--json")
    assert res["layer"] == maps[-1] and len(res["steps"]) >= 2
    res = _json(capsys, "compare", model, model, "--images", "100", "--json")
    assert res["model_a"] == res["model_b"]


def test_a_node_on_a_dense_layer_is_one_clear_line(foreign, capsys, tmp_path):
    code, _, err = run(capsys, "oip", "--model", str(foreign["byo"].path), "--layer", "fc", "--maps", "0",
                       "--node", "1,1", "--out", str(tmp_path))
    assert code == 2 and err.strip().startswith("error: A node can be chosen on a layer of maps only")


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_import_checks_measures_and_writes_atomically(foreign, tmp_path, capsys, monkeypatch):
    """A model without metadata, its data set, and the mistakes users make (the CLI's main(); its real entry
    point is tested in test_cli)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("byo", "rgb"):
        (src / f"{name}.keras").write_bytes(foreign[name].path.read_bytes())
    dest = tmp_path / "models"
    monkeypatch.setenv("CNNVIZ_MODEL_DIR", str(dest))
    meta = _json(capsys, "import", str(src / "byo.keras"), "--dataset", "mnist", "--json")
    assert meta["test_accuracy"] == pytest.approx(foreign["byo"].metadata["test_accuracy"], abs=1e-6)
    assert meta["standardization_source"] == "the data set's mean and std" and len(meta["standardization_tried"]) == 3
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
        code, _, err = run(capsys, *argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and match in lines[0], (argv, err)
    assert sorted(p.name for p in dest.iterdir()) == ["byo.json", "byo.keras"]

    res = _json(capsys, "import", str(src / "rgb.keras"), "--dataset", str(foreign["data"]), "--mean", "0.2", "--std",
                "0.3", "--json")
    assert res["standardization"] == {"mean": 0.2, "std": 0.3} and res["standardization_source"] == "given (--mean/--std)"
    assert res["class_names"] == ["red", "green", "blue", "white"]


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_import_finds_the_scaling_a_model_was_trained_with(foreign, tmp_path, capsys):
    """A model trained on plain 0..1 pixels is stored with mean 0 / std 1, not with the data set's statistics
    (with those it would look 4 points of accuracy worse, or far worse)."""
    import keras

    from cnnviz.data import load_dataset

    data = load_dataset("mnist")
    keras.utils.set_random_seed(1)
    # a small MLP: unlike a convolution with biases after ReLUs, it is thrown by a wrong scaling (a conv net
    # often reaches about the same accuracy on all three, and then any of them is as good)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(name="f"),
                              keras.layers.Dense(32, activation="relu", name="h"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train[:3000, ..., None] / 255.0, data.y_train[:3000], epochs=3, verbose=0)
    model.save(tmp_path / "raw.keras")
    res = _json(capsys, "import", str(tmp_path / "raw.keras"), "--dataset", "mnist", "--model-dir",
                str(tmp_path / "models"), "--json")
    tried = res["standardization_tried"]
    assert res["standardization"] == {"mean": 0.0, "std": 1.0} and "0..1 pixels" in res["standardization_source"]
    best = tried["0..1 pixels (mean 0, std 1)"]
    assert best == max(tried.values()) > tried["the data set's mean and std"] + 0.02  # chosen on 2,000 test images
    assert abs(res["test_accuracy"] - best) < 0.06  # measured on all 10,000 (MNIST's first 2,000 are harder)
    code, _, err = run(capsys, "import", str(tmp_path / "raw.keras"), "--dataset", "mnist", "--model-dir",
                       str(tmp_path / "models"), "--name", "raw2", "--mean", "0.1307", "--std", "0.3081",
                       "--accuracy", "0.99")
    assert code == 0 and "far below the model's own" in err


def test_a_model_without_metadata_is_listed_with_its_import_command(foreign, tmp_path):
    from cnnviz.catalog import import_command, list_models, unimported_models

    (tmp_path / "mine.keras").write_bytes(foreign["byo"].path.read_bytes())
    assert list_models(tmp_path) == [] and unimported_models(tmp_path) == ["mine"]
    assert import_command(tmp_path, "mine").startswith(f"python -m cnnviz import {tmp_path / 'mine.keras'} --dataset")


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_the_articles_cnn_trains_on_an_npz_data_set(foreign, capsys, tmp_path):
    """Training on a colour data set of one's own: the seed's CNN with the data's input shape and classes."""
    out = tmp_path / "blobs-cnn.keras"
    code, stdout, err = run(capsys, "train", "--dataset", str(foreign["data"]), "--epochs", "2", "--out", str(out),
                             "--json")
    assert code == 0, err[-2000:]
    assert json.loads(stdout)["test_accuracy"] > 0.5  # 4 classes: chance is 0.25
    info = _json(capsys, "info", "--model", str(out), "--json")
    assert info["input_shape"] == [32, 32, 3] and info["classes"] == ["red", "green", "blue", "white"]
    assert info["dataset"] == str(foreign["data"].resolve())
    res = _json(capsys, "oip", "--model", str(out), "--layer", "Dense_2", "--maps", "1", "--steps", "5",
                "--out", str(tmp_path / "o"), "--json")
    assert res["layer_role"] == "output"


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_card_and_atlas_of_the_imported_colour_model(foreign, capsys, tmp_path):
    import re

    m = foreign["rgb"]
    card = _json(capsys, "card", "--model", str(m.path), "--layer", "classes", "--class", "1", "--out",
                 str(tmp_path / "card.html"), "--json")
    page = (tmp_path / "card.html").read_text()
    assert card["name"] == f"class {m.class_names[1]}" and card["bytes"] == len(page.encode()) <= 2_000_000
    assert all(s.startswith("data:image/") for s in re.findall(r'\ssrc="([^"]*)"', page))
    atlas = _json(capsys, "atlas", "--model", str(m.path), "--out", str(tmp_path / "atlas"), "--json")
    units = {r.name: r.maps for r in m.layers if r.searchable and "Pool" not in r.type}
    assert atlas["layers"] == units and atlas["pages"] == sum(units.values())
    assert len(list((tmp_path / "atlas" / "units").glob("*/*.html"))) == atlas["pages"]
