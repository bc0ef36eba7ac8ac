"""Any Keras image classifier: the engine on three foreign models (tests/foreign.py)."""

from __future__ import annotations

import numpy as np
import pytest

FOREIGN = ["byo", "residual", "rgb"]


def test_layer_roles_and_parameter_counts(foreign):
    roles = {name: {r.name: r.role for r in foreign[name].layers} for name in FOREIGN}
    assert [n for n, r in roles["byo"].items() if r == "map"] == ["c1", "bn1", "relu1", "avg1", "c2", "max2", "c3"]
    assert roles["byo"]["drop"] == "other" and roles["byo"]["fc"] == "dense" and roles["byo"]["probs"] == "output"
    assert [n for n, r in roles["residual"].items() if r == "map"] == [
        "stem", "branch", "branch_bn", "add", "merge_relu", "pool", "dilated", "strided"]
    assert roles["residual"]["logits"] == "scores" and roles["residual"]["softmax"] == "output"
    assert foreign["residual"].dense_layers == [] and foreign["rgb"].dense_layers == ["hidden"]
    for name in FOREIGN:
        m = foreign[name]
        assert sum(r.params for r in m.layers) == m.keras_model.count_params()
    assert foreign["rgb"].input_shape == (32, 32, 3) and foreign["rgb"].image_shape == (32, 32, 3)
    assert foreign["rgb"].class_names == ("red", "green", "blue", "white")


def _footprint(m, layer: str, y: int, x: int, trials: int = 12) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1) of the input pixels with a non-zero gradient of node (y, x) of
    ``layer`` (all its maps), over random inputs: the brute-force receptive field."""
    import keras
    import tensorflow as tf

    sub = keras.Model(m.keras_model.inputs, m.keras_model.get_layer(layer).output)
    xs = tf.constant(np.random.default_rng(1).normal(size=(trials, *m.input_shape)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xs)
        out = tf.reduce_sum(sub(xs, training=False)[:, y, x, :])
    g = np.abs(tape.gradient(out, xs).numpy()).sum(axis=(0, 3))
    ys, xs_ = np.nonzero(g)
    return int(ys.min()), int(ys.max()), int(xs_.min()), int(xs_.max())


@pytest.mark.parametrize("name", FOREIGN)
def test_receptive_fields_match_the_gradient_footprint(foreign, name):
    m = foreign[name]
    checked = 0
    for row in m.layers:
        if not row.spatial:
            continue
        h, w = row.output_shape[:2]
        for y, x in {(0, 0), (h // 2, w // 2), (h - 1, w - 1)}:
            assert _footprint(m, row.name, y, x) == row.receptive.box(y, x, m.input_shape[:2]), (row.name, y, x)
            checked += 1
    assert checked >= 9


def test_layer_table_of_the_seed_model_is_unchanged(default_model):
    rows = {r.name: (r.receptive_field, r.jump, r.role) for r in default_model.layers}
    assert rows["Conv2D_3"] == (18, 4, "map") and rows["Dense_1"] == (28, None, "dense")
    assert rows["Dense_2"][2] == "output" and default_model.dense_layers == ["Dense_1"]


@pytest.mark.parametrize("name", FOREIGN)
def test_probe_dense_patterns_and_class_means(foreign, mnist, name):
    from cnnviz.activations import class_means, dense_patterns, probe
    from cnnviz.data import load_dataset

    m = foreign[name]
    data = load_dataset(m.metadata["dataset"])
    acts = probe(m).run(m.standardization.apply(data.x_test[:3]))
    assert acts[m.output_layer].shape == (3, m.num_classes)
    np.testing.assert_allclose(acts[m.output_layer].sum(1), 1, atol=1e-5)
    means = class_means(m, data.x_test[:200], data.y_test[:200].astype(np.int64))
    first = [r for r in m.layers if r.spatial][0]
    assert means[first.name].shape == (m.num_classes, *first.output_shape)
    if m.dense_layers:
        dp = dense_patterns(m, data)
        assert dp.dense_layer == m.dense_layers[-1] and dp.confusion.shape == (m.num_classes,) * 2
        assert dp.accuracy == pytest.approx(m.metadata["test_accuracy"], abs=1e-6)
    else:
        with pytest.raises(ValueError, match="no hidden dense layer"):
            dense_patterns(m, data)


@pytest.mark.parametrize("name", FOREIGN)
def test_oips_of_maps_units_and_classes(foreign, name):
    from cnnviz.oip import items_for, run_oip
    from cnnviz.search import OIPConfig

    m = foreign[name]
    maps = [r.name for r in m.layers if r.spatial]
    layers = [maps[0], maps[-1], *m.dense_layers, m.output_layer]
    for layer in layers:
        items = items_for(m, layer, "0,1", wavelengths=[(4.0,)])
        r = run_oip(m, items, OIPConfig(steps=12, frame_every=4))
        assert r.images.shape == (2, *m.image_shape) and r.frames.shape[1:] == (2, *m.image_shape)
        assert np.isfinite(r.images).all() and r.rgb == (m.input_shape[2] == 3)
        assert (r.end_activation >= r.start_activation - 1e-4).all() or (r.end_activation > 0).all(), layer
    with pytest.raises(ValueError, match="node"):
        items_for(m, m.output_layer, "0", node=(0, 0))


def test_the_output_oip_maximises_the_pre_softmax_score(foreign):
    """On the output layer the objective is the class's logit, not its probability."""
    import keras

    from cnnviz.oip import items_for, objective_and_gradient

    for name in ("byo", "residual"):
        m = foreign[name]
        items = items_for(m, m.output_layer, "3")
        x = np.random.default_rng(0).normal(size=(1, *m.image_shape)).astype(np.float32)
        obj, _ = objective_and_gradient(m, items, x)
        km = m.keras_model
        out = km.get_layer(m.output_layer)
        if isinstance(out, keras.layers.Dense):
            feats = keras.Model(km.inputs, out.input)(x.reshape(1, *m.input_shape)).numpy()
            logit = feats @ out.get_weights()[0] + out.get_weights()[1]
        else:
            logit = keras.Model(km.inputs, out.input)(x.reshape(1, *m.input_shape)).numpy()
        assert obj[0] == pytest.approx(float(logit[0, 3]), rel=1e-4, abs=1e-4)


def test_rgb_noise_has_its_own_noise_in_every_channel():
    from cnnviz.noise import make_noise

    x = make_noise(3, 4.0, (32, 32, 3))
    assert x.shape == (32, 32, 3) and abs(x.mean()) < 1e-5 and abs(x.std() - 1) < 1e-3
    c = np.corrcoef(x.reshape(-1, 3).T)
    assert np.abs(c[np.triu_indices(3, 1)]).max() < 0.5
    np.testing.assert_array_equal(make_noise(3, 4.0, 28), make_noise(3, 4.0))  # the seed model's noise is unchanged


def test_an_npz_data_set_is_checked(tmp_path):
    from cnnviz.data import load_dataset

    good = dict(x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, 0, 1]),
                x_test=np.zeros((2, 8, 8), np.uint8), y_test=np.array([0, 1]))
    np.savez(tmp_path / "ok.npz", **good)
    assert load_dataset(str(tmp_path / "ok.npz")).class_names == ("0", "1")
    cases = {"missing": ({k: v for k, v in good.items() if k != "y_test"}, "lacks y_test"),
             "shape": ({**good, "x_test": np.zeros((2, 9, 9), np.uint8)}, "x_test images are"),
             "labels": ({**good, "y_train": np.array([0, 1, 0])}, "one integer label in 0..999 per image"),
             "float": ({**good, "x_train": np.full((4, 8, 8), 3.0)}, "uint8 .0..255. or float in 0..1"),
             "names": ({**good, "class_names": np.array(["a"])}, "1 class_names")}
    for name, (arrays, match) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(ValueError, match=match):
            load_dataset(str(tmp_path / f"{name}.npz"))
    (tmp_path / "obj.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_dataset(str(tmp_path / "obj.npz"))
