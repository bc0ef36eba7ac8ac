import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from cnnviz.data import Standardization, load_dataset, read_idx


def test_real_mnist_is_the_original(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    std = Standardization.from_images(mnist.x_train)
    assert std.mean == pytest.approx(0.1307, abs=1e-4) and std.std == pytest.approx(0.3081, abs=1e-4)


def test_fashion_mnist_loads_with_class_names():
    d = load_dataset("fashion-mnist", allow_download=False)
    assert d.x_test.shape == (10000, 28, 28) and d.class_names[9] == "Ankle boot"


def test_standardization_round_trip(mnist):
    std = Standardization(0.1307, 0.3081)
    x = std.apply(mnist.x_test[:5])
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(std.to_pixels(x)[..., 0] * 255, mnist.x_test[:5], atol=1e-3)


def _write(path, payload: bytes, compress=True):
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def _images_header(n, rows=28, cols=28, magic=2051):
    return b"".join(v.to_bytes(4, "big") for v in (magic, n, rows, cols))


@pytest.mark.parametrize("payload,compress,match", [
    (_images_header(2) + bytes(2 * 784), True, None),
    (_images_header(2) + bytes(2 * 784 - 10), True, "truncated or corrupt"),
    (_images_header(2, magic=2049) + bytes(2 * 784), True, "magic number 2049"),
    (b"\x00\x00", True, "truncated"),
    (_images_header(2) + bytes(2 * 784), False, "not a complete gzip"),
], ids=["valid", "short", "bad-magic", "tiny", "not-gzip"])
def test_read_idx_checks_the_file(tmp_path, payload, compress, match):
    path = _write(tmp_path / "imgs.gz", payload, compress)
    if match is None:
        assert read_idx(path, "images").shape == (2, 28, 28)
    else:
        with pytest.raises(ValueError, match=match) as e:
            read_idx(path, "images")
        assert "imgs.gz" in str(e.value)


def test_corrupt_file_in_data_dir_is_named(tmp_path, monkeypatch):
    src = os.environ["CNNVIZ_DATA_DIR"]
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in os.listdir(os.path.join(src, "mnist")):
        (folder / name).write_bytes(Path(src, "mnist", name).read_bytes())
    data = (folder / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(data[: len(data) // 2])
    monkeypatch.setenv("CNNVIZ_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", allow_download=False)


def test_missing_data_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError) as e:
        load_dataset("mnist", allow_download=False)
    msg = str(e.value)
    assert str(tmp_path / "mnist") in msg and "/usr/share/datasets/mnist" in msg and "CNNVIZ_DATA_DIR" in msg


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Received: name='cifar'"):
        load_dataset("cifar")


@pytest.mark.parametrize("mean,std", [(0.1, 0.0), (float("nan"), 1.0), (0.1, -1.0)], ids=["zero", "nan", "neg"])
def test_standardization_rejects_bad_values(mean, std):
    with pytest.raises(ValueError, match="positive std"):
        Standardization(mean, std)


def _npz_with(tmp_path, name: str, arrays: dict, lie: dict | None = None) -> "Path":
    """An .npz of ``arrays``; ``lie`` gives members whose header claims another shape (a bomb's header, without
    the gigabytes)."""
    import zipfile

    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key, value in arrays.items():
            with z.open(f"{key}.npy", "w") as f:
                header = {"descr": np.lib.format.dtype_to_descr(value.dtype), "fortran_order": False,
                          "shape": (lie or {}).get(key, value.shape)}
                np.lib.format.write_array_header_1_0(f, header)
                f.write(value.tobytes())
    return path


def _small(n=20):
    rng = np.random.default_rng(0)
    return {"x_train": rng.integers(0, 255, (n, 8, 8), np.uint8), "y_train": np.arange(n) % 3,
            "x_test": rng.integers(0, 255, (n, 8, 8), np.uint8), "y_test": np.arange(n) % 3}


@pytest.mark.parametrize("change,lie,match", [
    ({"y_train": np.array([0, 1] * 9 + [0, 2**40])}, None, r"one integer label in 0..999"),
    ({}, {"x_train": (2_000_000, 28, 28)}, "over 1024 MiB of arrays|at most 200,000 per split"),
    ({}, {"x_train": (300_000, 8, 8)}, "at most 200,000 per split"),
    ({"class_names": np.array([object()] * 3, dtype=object)}, None, "Python objects"),
], ids=["huge-label", "bomb-header", "too-many-images", "objects"])
def test_a_hostile_npz_is_refused_before_its_arrays_are_built(tmp_path, change, lie, match):
    from cnnviz.data import load_npz

    arrays = {**_small(), **change}
    path = _npz_with(tmp_path, "hostile.npz", arrays, lie) if "class_names" not in change else tmp_path / "o.npz"
    if "class_names" in change:
        import zipfile

        with zipfile.ZipFile(path, "w") as z:  # np.save would pickle the objects: the header says "|O"
            for key, value in arrays.items():
                with z.open(f"{key}.npy", "w") as f:
                    np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(value.dtype),
                                                             "fortran_order": False, "shape": value.shape})
                    f.write(b"" if value.dtype.hasobject else value.tobytes())
    with pytest.raises(ValueError, match=match):
        load_npz(path)
