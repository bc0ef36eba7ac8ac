"""What the commands share: the error for bad arguments, loading the model, parsing lists, the progress bar,
and printing a report as JSON or as text."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import CnnvizError

MODEL_HELP = "path to a .keras model (default: $CNNVIZ_MODEL_DIR/default.keras or models/default.keras)"


class CLIError(CnnvizError):
    """An invalid argument or input: printed as one line, exit status 2."""


def load(path: str | None):
    """The model of ``--model``, or the default one."""
    from ..catalog import default_model_path
    from ..model import load_model

    return load_model(path or default_model_path())


def map_layers(m) -> list[str]:
    """The model's layers of maps; a clear error for a model without any."""
    names = m.spatial_layers
    if not names:
        raise CLIError(f"{m.name} has no layer of maps (a convolution or pooling layer on the image grid).")
    return names


def model_and_layer(args: argparse.Namespace):
    """The model of ``--model``; ``--layer`` defaults to its last layer of maps."""
    m = load(args.model)
    args.layer = args.layer or map_layers(m)[-1]
    return m


def test_data(m, index: int):
    """The model's data set, once ``index`` is checked against its test images."""
    from ..data import load_dataset

    data = load_dataset(m.metadata.get("dataset", "mnist"))
    if not 0 <= index < len(data.x_test):
        raise CLIError(f"--image-index must be in 0..{len(data.x_test) - 1}. Received: --image-index={index}")
    return data


def parse_node(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise CLIError(f"--node must be X,Y (two integers). Received: --node={text}") from None
    return x, y


def parse_floats(text: str, flag: str) -> tuple[float, ...]:
    """``"1,4,14"`` -> (1.0, 4.0, 14.0), with a clear error naming ``flag``."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise CLIError(f"{flag} must be numbers separated by commas. Received: {flag}={text}") from None


class Bar:
    """A tqdm bar on stderr driven by progress fractions; opened on the first report, so a request
    refused up front prints only its one error line."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar: Any = None

    def __call__(self, p) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, desc=self.desc, unit="%", file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}",
                            disable=None)
        self.bar.n = round(100 * p.fraction)
        self.bar.set_postfix_str(p.stage, refresh=True)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def emit(args: argparse.Namespace, report: dict[str, Any], text: str) -> None:
    """The command's report: JSON with ``--json``, else ``text`` for people."""
    print(json.dumps(report, indent=1) if getattr(args, "json", False) else text)


def add_json(s: argparse.ArgumentParser) -> None:
    s.add_argument("--json", action="store_true", help="print the report as JSON")


def add_method(s: argparse.ArgumentParser) -> None:
    """The ascent's method and range options (see cnnviz.search.METHODS)."""
    s.add_argument("--method", choices=("redirected", "skip-dead", "blur-all"), default="redirected",
                   help="redirected: the redirected ReLU wakes dead searches; skip-dead: a dead search stays as it "
                        "started; blur-all: the seed's loop, every image blurred, dead ones too")
    s.add_argument("--redirect-steps", type=int, default=20,
                   help="steps of the redirected ReLU with --method redirected (0: the same as --method skip-dead)")
    s.add_argument("--in-range", choices=("auto", "on", "off"), default="auto",
                   help="clip the image to the data's pixel range after each step (auto: on for dense units and "
                        "classes, off for maps)")


def method_config(args: argparse.Namespace, **kwargs: Any):
    """The OIPConfig of ``kwargs`` run by ``--method`` and ``--in-range``."""
    from ..search import OIPConfig

    if args.redirect_steps < 0:
        raise CLIError(f"--redirect-steps must be 0 or more. Received: --redirect-steps={args.redirect_steps}")
    method = "skip-dead" if args.method == "redirected" and args.redirect_steps == 0 else args.method
    in_range = {"auto": None, "on": True, "off": False}[args.in_range]
    return OIPConfig(**kwargs, in_range=in_range).with_method(method, args.redirect_steps)


def write_oip(m, result, out: Path, labels: list[str] | None = None, title: str | None = None) -> None:
    """``oip.npz`` (images in the model's standardized units, frames, activations), ``oip.png`` and ``oip.gif``,
    each tile labelled with its unit, wavelength, noise, seed and activation."""
    import numpy as np

    from ..images import oip_labels, save_oip_gif, save_oip_grid
    from ..store import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "oip.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, images=result.images, frames=result.frames, activation=result.activation,
                            frame_steps=result.frame_steps)
    labels = labels or oip_labels(result, m.layer(result.items[0].layer).role, m.class_names)
    save_oip_grid(result.display, out / "oip.png", labels=labels, title=f"{m.name} {title or result.items[0].layer}")
    save_oip_gif(result, out / "oip.gif", labels=labels)
