import json
import zipfile

import keras
import numpy as np
import pytest

from cnnviz.catalog import list_models
from cnnviz.config import TrainConfig
from cnnviz.model import ModelFileError, build_model, load_model, save_model

META = {"dataset": "mnist", "standardization": {"mean": 0.1307, "std": 0.3081}, "test_accuracy": None}


def test_layer_table_matches_keras_counts(default_model):
    km = default_model.keras_model
    rows = default_model.layers
    assert [r.name for r in rows] == ["Conv2D_1", "MaxPool_1", "Conv2D_2", "MaxPool_2", "Conv2D_3",
                                      "Flatten", "Dense_1", "Dense_2"]
    assert sum(r.params for r in rows) == km.count_params()
    # by hand: (k*k*in + 1) * out
    assert [r.params for r in rows if r.type == "Conv2D"] == [(9 + 1) * 32, (9 * 32 + 1) * 64, (9 * 64 + 1) * 64]
    assert rows[6].params == (3 * 3 * 64 + 1) * 70
    assert rows[4].output_shape == (3, 3, 64)


def test_default_model_metadata(default_model):
    meta = default_model.metadata
    assert meta["dataset"] == "mnist" and meta["test_accuracy"] >= 0.99
    assert set(meta["standardization"]) >= {"mean", "std"}
    assert np.asarray(meta["confusion_matrix"]).sum() == 10000
    assert default_model.class_names[3] == "3"


def test_config_varies_architecture():
    m = build_model(TrainConfig(filters=(8, 16, 12), kernel_sizes=(5, 3, 3), dense_units=20))
    assert m.get_layer("Conv2D_1").output.shape[1:] == (24, 24, 8)
    assert m.get_layer("Conv2D_3").output.shape[-1] == 12 and m.get_layer("Dense_1").units == 20


def test_save_and_load_round_trip(tmp_path, tiny_model):
    path = tmp_path / "copy.keras"
    save_model(tiny_model.keras_model, path, META)
    m = load_model(path)
    x = np.random.default_rng(0).standard_normal((2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(m.keras_model(x), tiny_model.keras_model(x), atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == sorted(["copy.keras", "copy.json"]) or \
        sorted(p.name for p in tmp_path.iterdir()) == ["copy.json", "copy.keras"]
    assert list_models(tmp_path) == ["copy"]


def test_failed_save_leaves_the_old_model(tmp_path, tiny_model, monkeypatch):
    path = tmp_path / "m.keras"
    save_model(tiny_model.keras_model, path, META)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tiny_model.keras_model, "save", boom)
    with pytest.raises(RuntimeError):
        save_model(tiny_model.keras_model, path, META)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.keras"]


def _lambda_model(path):
    inp = keras.Input((28, 28, 1))
    out = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    keras.Model(inp, keras.layers.Flatten()(out)).save(path)
    path.with_suffix(".json").write_text(json.dumps(META))


def test_lambda_layer_is_refused(tmp_path):
    path = tmp_path / "evil.keras"
    _lambda_model(path)
    with pytest.raises(ModelFileError, match="unsafe deserialization"):
        load_model(path)


@pytest.mark.parametrize("make,match", [
    (lambda p: None, "not found"),
    (lambda p: p.write_bytes(b"hello"), "not a Keras model file"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("x.txt", "x"), "could not be loaded"),
], ids=["missing", "text", "wrong-zip"])
def test_bad_model_files(tmp_path, make, match):
    path = tmp_path / "bad.keras"
    make(path)
    if path.exists():
        path.with_suffix(".json").write_text(json.dumps(META))
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


@pytest.mark.parametrize("meta,match", [(None, "Metadata file missing"), ("{", "invalid"),
                                        ('{"dataset": "mnist"}', "invalid")], ids=["none", "json", "no-std"])
def test_bad_metadata(tmp_path, tiny_model, meta, match):
    path = tmp_path / "m.keras"
    tiny_model.keras_model.save(path)
    if meta is not None:
        path.with_suffix(".json").write_text(meta)
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_unknown_layer_lists_valid_ones(default_model):
    with pytest.raises(ValueError, match=r"Existing layers are: \['Conv2D_1'.*Received: layer='Conv9'"):
        default_model.layer("Conv9")
    with pytest.raises(ValueError, match="layer of maps"):
        default_model.spatial_layer("Dense_1")


def test_an_archive_that_decompresses_beyond_the_limit_is_refused_unread(tmp_path, monkeypatch):
    import zipfile

    import cnnviz.model as model

    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("model.weights.h5", "w") as f:
        for _ in range(64):
            f.write(bytes(1 << 20))  # 64 MiB of zeros: a few hundred KB on disk
    monkeypatch.setattr(model, "MAX_MODEL_BYTES", 32 << 20)
    with pytest.raises(ModelFileError, match="decompresses to 64 MiB; cnnviz loads models of at most 32 MiB"):
        model.read_keras(path)


def test_a_model_with_more_classes_than_the_dashboard_shows_is_refused():
    from cnnviz.model import check_classifier

    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1001)])
    with pytest.raises(ModelFileError, match="1,001 classes; cnnviz shows models of at most 1,000"):
        check_classifier(m, "big.keras")
