"""cnnviz: look inside a small convolutional network trained on MNIST.

The public API is re-exported here. TensorFlow is imported lazily (on first use of a name that
needs it) and quietly (``CNNVIZ_DEBUG=1`` lets it speak), so ``import cnnviz`` stays cheap and
fork-safe for the dashboard. The types (``OIPItem``, ``OIPResult``, ``SweepResult``…) need no
TensorFlow at all.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def _version() -> str:
    """The installed package's version; in a checkout, the one pyproject.toml gives."""
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    try:
        return version("cnnviz")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, ValueError):
            return "0+unknown"


__version__ = _version()

# Modules that need no TensorFlow: their names load without it.
_LIGHT = {"data", "config", "receptive", "noise", "catalog", "search", "results", "stats", "errors", "store", "device",
          "images"}
_EXPORTS = {
    "Dataset": "data", "Standardization": "data", "load_dataset": "data", "read_idx": "data", "load_npz": "data",
    "DATASETS": "data", "CLASS_NAMES": "data",
    "TrainConfig": "config",
    "Receptive": "receptive", "SpatialOp": "receptive", "propagate": "receptive", "LayerInfo": "receptive",
    "make_noise": "noise", "radial_spectrum": "noise",
    "list_models": "catalog", "default_model_path": "catalog", "model_dir": "catalog", "model_path": "catalog",
    "OIPConfig": "search", "OIPItem": "search", "OIPProgress": "search", "OIPResult": "search", "Searches": "search",
    "Unit": "search", "Watch": "search", "BatchProgress": "search", "parse_maps": "search", "dead_fraction": "search",
    "SweepResult": "results", "Reproducibility": "results", "HandOfMnist": "results", "Exemplars": "results",
    "OpenRates": "results", "SanityCheck": "results", "Dissection": "results", "Circuit": "results",
    "Timeline": "results", "METHODS": "search", "Objective": "search", "ObjectiveRun": "search", "Term": "search",
    "parse_expression": "search", "MODES": "search",
    "Matching": "results", "Comparison": "results", "DensePatterns": "results", "Attribution": "results",
    "TrainProgress": "results", "TrainResult": "results",
    "shift_correlations": "stats", "reproducibility_score": "stats", "wilson": "stats",
    "CnnvizError": "errors", "USER_ERRORS": "errors",
    "setup_device": "device",
    "build_model": "model", "load_model": "model", "save_model": "model", "LoadedModel": "model",
    "ModelFileError": "model", "layer_table": "graph",
    "train": "training", "evaluate": "training",
    "ActivationProbe": "activations", "probe": "activations", "dense_patterns": "activations",
    "run_oip": "oip", "run_many": "oip", "items_for": "oip", "run_objective": "objectives",
    "wavelength_sweep": "sweep", "open_rates": "sweep", "hand_of_mnist": "hand", "reproducibility": "reproducibility",
    "exemplars": "exemplars", "match_maps": "matching", "map_correlation": "matching", "compare_models": "matching",
    "attribution": "attribution", "sanity_check": "sanity", "dissect": "dissect", "circuit": "circuits",
    "timeline": "timeline", "import_model": "importer",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = _EXPORTS[name]
        if module not in _LIGHT:
            from .device import quiet_tensorflow

            quiet_tensorflow()  # a notebook's first model gets no CUDA or CPU-feature chatter
        importlib.import_module(f".{module}", __name__)
        # Every export of every loaded module becomes the package's attribute now: importing a submodule
        # named like its function (cnnviz.attribution, cnnviz.reproducibility) leaves the module there else.
        for n, m in _EXPORTS.items():
            if f"{__name__}.{m}" in sys.modules:
                globals()[n] = getattr(sys.modules[f"{__name__}.{m}"], n)
        return globals()[name]
    raise AttributeError(f"module 'cnnviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
