"""Helpers shared by the benchmarks: the default model, machine facts, output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("CNNVIZ_DATA_DIR") and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["CNNVIZ_DATA_DIR"] = str(ROOT.parent / "shared" / "data")


def options(doc: str | None, **defaults) -> argparse.Namespace:
    """The command line of a benchmark: ``--json`` and one ``--name`` per keyword (underscores become dashes),
    typed by its default; a value may be ``(default, help)``; a default of None takes a string."""
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--json", action="store_true")
    for name, value in defaults.items():
        default, help_ = value if isinstance(value, tuple) else (value, None)
        p.add_argument("--" + name.replace("_", "-"), type=str if default is None else type(default), default=default,
                       help=help_)
    return p.parse_args()


def machine() -> dict:
    from cnnviz.device import setup_device

    return {"device": setup_device(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def default_model_and_image():
    """The committed default model and the first MNIST test image (uint8 28×28): what the
    one-image benchmarks time."""
    from cnnviz.catalog import default_model_path
    from cnnviz.data import load_dataset
    from cnnviz.model import load_model

    return load_model(default_model_path()), load_dataset("mnist").x_test[0]


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def report(results: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        for k, v in results.items():
            print(f"{k:<32} {v:.4g}" if isinstance(v, float) else f"{k:<32} {v}")
