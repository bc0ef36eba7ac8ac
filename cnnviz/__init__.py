"""cnnviz: look inside a small convolutional network trained on MNIST.

The public API is re-exported here. TensorFlow is imported lazily (on first use of a
name that needs it), so ``import cnnviz`` stays cheap and fork-safe for the dashboard.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Dataset": "data", "Standardization": "data", "load_dataset": "data", "read_idx": "data",
    "DATASETS": "data", "CLASS_NAMES": "data",
    "TrainConfig": "config",
    "Receptive": "receptive", "SpatialOp": "receptive", "propagate": "receptive",
    "make_noise": "noise", "radial_spectrum": "noise",
    "build_model": "model", "load_model": "model", "save_model": "model", "LoadedModel": "model",
    "LayerInfo": "receptive", "ModelFileError": "model", "layer_table": "model", "list_models": "catalog",
    "default_model_path": "catalog", "model_dir": "catalog", "model_path": "catalog",
    "train": "training", "TrainProgress": "training", "TrainResult": "training", "evaluate": "training",
    "ActivationProbe": "activations", "probe": "activations", "dense_patterns": "activations",
    "DensePatterns": "activations",
    "OIPConfig": "oip", "OIPItem": "oip", "OIPProgress": "oip", "OIPResult": "oip", "run_oip": "oip",
    "parse_maps": "oip", "dead_fraction": "oip", "run_many": "oip", "BatchProgress": "oip",
    "wavelength_sweep": "sweep", "SweepResult": "sweep", "hand_of_mnist": "hand", "HandOfMnist": "hand",
    "reproducibility": "reproducibility", "reproducibility_score": "reproducibility", "Reproducibility": "reproducibility",
    "shift_correlations": "reproducibility",
    "exemplars": "exemplars", "Exemplars": "exemplars",
    "match_maps": "matching", "map_correlation": "matching", "Matching": "matching",
    "setup_device": "device",
    "attribution": "attribution", "Attribution": "attribution", "import_model": "importer", "load_npz": "data",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        importlib.import_module(f".{_EXPORTS[name]}", __name__)
        # Every export of every loaded module becomes the package's attribute now: importing a submodule
        # named like its function (cnnviz.attribution, cnnviz.reproducibility) leaves the module there else.
        for n, m in _EXPORTS.items():
            if f"{__name__}.{m}" in sys.modules:
                globals()[n] = getattr(sys.modules[f"{__name__}.{m}"], n)
        return globals()[name]
    raise AttributeError(f"module 'cnnviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
