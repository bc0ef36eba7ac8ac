"""MNIST and Fashion-MNIST from IDX files, and the standardization the model is trained with."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataNotFoundError

DATASETS = ("mnist", "fashion-mnist")
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
_DEBIAN_ROOT = Path("/usr/share/datasets")
_BESIDE = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
_MAGIC_IMAGES, _MAGIC_LABELS = 2051, 2049


@dataclass(frozen=True)
class Dataset:
    """One data set: images (N, H, W) or (N, H, W, C), uint8 0..255 or float 0..1; integer labels
    (N,) in 0..classes-1; and class names. MNIST and Fashion-MNIST are uint8 (N, 28, 28)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str  # where it was read from, for messages and metadata


@dataclass(frozen=True)
class Standardization:
    """Pixel mean and std on the 0..1 scale; the one transform every consumer applies.

    The network only ever saw standardized inputs, so activations, OIP noise and the
    OIP update must all live in the same units: an OIP search run on raw 0..1 pixels
    does not converge (the seed's own finding).
    """

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.mean) and np.isfinite(self.std) and self.std > 0):
            raise ValueError("Standardization needs a finite mean and a positive std. "
                             f"Received: mean={self.mean}, std={self.std}")

    @classmethod
    def from_images(cls, images: np.ndarray) -> Standardization:
        """Computes mean and std over all pixels of uint8 images."""
        x = images.astype(np.float64) / 255.0
        return cls(mean=float(x.mean()), std=float(x.std()))

    def apply(self, images: np.ndarray) -> np.ndarray:
        """uint8 (0..255) or float (0..1) images (N, H, W) or (N, H, W, C) -> float32 (N, H, W, C)
        in standardized units."""
        x = np.asarray(images)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        x = (x - np.float32(self.mean)) / np.float32(self.std)
        return x[..., None] if x.ndim == 3 else x

    def to_pixels(self, x: np.ndarray) -> np.ndarray:
        """Standardized images -> 0..1 pixel scale (not clipped)."""
        return np.asarray(x, np.float32) * np.float32(self.std) + np.float32(self.mean)

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}


def read_idx(path: str | os.PathLike[str], kind: str) -> np.ndarray:
    """Reads one gzip-compressed IDX file of ``kind`` 'images' or 'labels'.

    Raises:
        ValueError: the file is not gzip, has the wrong magic number, or its size
            does not match the header.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"Cannot read IDX file {path}: not a complete gzip file ({e}).") from None
    magic = _MAGIC_IMAGES if kind == "images" else _MAGIC_LABELS
    ndim = 3 if kind == "images" else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file {path} is truncated: {len(raw)} bytes, header needs {header}.")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise ValueError(f"IDX file {path} has magic number {got}, expected {magic} for {kind}.")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"IDX file {path} has {len(raw)} bytes; its header {dims} needs "
                         f"{expected}. The file is truncated or corrupt.")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _read_dir(name: str, folder: Path) -> Dataset:
    arrays = {k: read_idx(folder / f, "images" if k.startswith("x") else "labels")
              for k, f in _FILES.items()}
    for split in ("train", "test"):
        nx, ny = len(arrays[f"x_{split}"]), len(arrays[f"y_{split}"])
        if nx != ny:
            raise ValueError(f"{folder}: {nx} {split} images but {ny} {split} labels.")
    if arrays["x_train"].shape[1:] != (28, 28):
        raise ValueError(f"{folder}: images are {arrays['x_train'].shape[1:]}, expected (28, 28).")
    return Dataset(name, class_names=CLASS_NAMES[name], source=str(folder), **arrays)


def _read_keras(name: str) -> Dataset:
    import keras  # only reached on machines where the files are absent

    module = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return Dataset(name, x_train, y_train, x_test, y_test, CLASS_NAMES[name], "keras.datasets")


MAX_NPZ_BYTES = 1 << 30  # a data set of one's own is read into memory whole: its arrays' bytes, uncompressed
MAX_IMAGES = 200_000  # images of one split (training works on them in float32: 4 bytes a value)
MAX_CLASSES = 1000  # what the dashboard can show (a confusion matrix, class means, a class per OIP)


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The shape and dtype of every array of an ``.npz``, read from the headers alone, and the sizes checked
    before any array is built: a small file that decompresses to gigabytes is refused, not read."""
    import zipfile

    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename.removesuffix(".npy")
                if name not in (*_FILES, "class_names"):
                    continue
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0(f))
                nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                total += max(nbytes, info.file_size)
                if dtype.hasobject:
                    raise ValueError(f"{path}: {name} holds Python objects (pickles), which are never loaded.")
                if total > MAX_NPZ_BYTES:
                    raise ValueError(f"{path} holds over {MAX_NPZ_BYTES >> 20} MiB of arrays once decompressed; cnnviz "
                                     "reads a data set into memory whole.")
                if name.startswith("x_") and shape and shape[0] > MAX_IMAGES:
                    raise ValueError(f"{path}: {name} has {shape[0]:,} images; at most {MAX_IMAGES:,} per split.")
                out[name] = (tuple(shape), dtype)
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - zip and format errors all mean the same to the user
        raise ValueError(f"{path} is not a readable .npz file ({type(e).__name__}: {str(e)[:200]}).") from None
    return out


def load_npz(path: str | os.PathLike[str]) -> Dataset:
    """A data set of one's own: an ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``
    (uint8 0..255 or float 0..1 images, (N, H, W) or (N, H, W, C) with C = 1 or 3; integer labels)
    and optionally ``class_names``. Read without pickle.

    Raises:
        ValueError: what is missing or wrong, in one line.
        DataNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"Data set file not found: {path}")
    if path.stat().st_size > MAX_NPZ_BYTES:
        raise ValueError(f"{path} is over {MAX_NPZ_BYTES >> 20} MiB; cnnviz reads a data set into memory whole.")
    _npz_headers(path)
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if k in (*_FILES, "class_names")}
    except Exception as e:  # noqa: BLE001 - zip, format and pickle errors all mean the same to the user
        raise ValueError(f"{path} is not a readable .npz file without pickled objects ({type(e).__name__}: "
                         f"{str(e)[:200]}).") from None
    missing = [k for k in _FILES if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: a data set needs x_train, y_train, x_test, y_test.")
    shape = arrays["x_train"].shape[1:]
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)) or len(x) == 0:
            raise ValueError(f"{path}: x_{split} has shape {x.shape}; images must be (N, H, W) or (N, H, W, C) "
                             "with C = 1 or 3.")
        if x.shape[1:] != shape:
            raise ValueError(f"{path}: x_test images are {x.shape[1:]} but x_train images are {shape}.")
        if x.dtype != np.uint8 and not (np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all()
                                        and x.min() >= 0 and x.max() <= 1):
            raise ValueError(f"{path}: x_{split} must be uint8 (0..255) or float in 0..1. Received: dtype={x.dtype}")
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= MAX_CLASSES:
            raise ValueError(f"{path}: y_{split} must be one integer label in 0..{MAX_CLASSES - 1} per image "
                             f"({len(x)}). Received: shape={y.shape}, dtype={y.dtype}")
    if arrays["x_train"].ndim == 4 and shape[-1] == 1:
        for k in ("x_train", "x_test"):
            arrays[k] = arrays[k][..., 0]
    classes = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
    names = arrays.pop("class_names", None)
    if names is not None:
        names = tuple(str(n) for n in np.asarray(names).ravel())
        if len(names) < classes:
            raise ValueError(f"{path}: {len(names)} class_names for labels up to {classes - 1}.")
    return Dataset(str(path), class_names=names or tuple(str(i) for i in range(classes)), source=str(path),
                   **{k: arrays[k] for k in _FILES})


def load_dataset(name: str = "mnist", *, allow_download: bool = True) -> Dataset:
    """Loads MNIST or Fashion-MNIST from ``$CNNVIZ_DATA_DIR/<name>``, Debian's folder, or Keras's
    cache; a name ending in ``.npz`` is a data set of one's own (:func:`load_npz`).

    Raises:
        ValueError: unknown name, or a corrupt file in a folder that exists.
        DataNotFoundError: the data is nowhere; the message lists every place tried.
    """
    if str(name).endswith(".npz"):
        return load_npz(name)
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset. Valid names are {list(DATASETS)} or a path to an .npz file. "
                         f"Received: name={name!r}")
    tried = []
    folders = []
    if os.environ.get("CNNVIZ_DATA_DIR"):
        folders.append(Path(os.environ["CNNVIZ_DATA_DIR"]) / name)
    else:
        tried.append("$CNNVIZ_DATA_DIR (not set)")
        if _BESIDE.is_dir():  # a shared/data folder beside the checkout, as on this project's machines
            folders.append(_BESIDE / name)
    folders.append(_DEBIAN_ROOT / name)
    for folder in folders:
        missing = [f for f in _FILES.values() if not (folder / f).is_file()]
        if not missing:
            return _read_dir(name, folder)
        tried.append(f"{folder} (missing {', '.join(missing)})")
    if allow_download:
        try:
            return _read_keras(name)
        except Exception as e:  # noqa: BLE001 - no network, proxy, corrupt cache: all mean "not there"
            tried.append(f"keras.datasets download ({type(e).__name__}: {e})")
    raise DataNotFoundError(
        f"Dataset {name!r} not found. Tried: " + "; ".join(tried) + ". Provide it by setting "
        f"CNNVIZ_DATA_DIR to a folder holding {name}/ with the four IDX files "
        f"({', '.join(_FILES.values())}), or install Debian's dataset package, or go online.")
