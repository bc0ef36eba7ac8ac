"""Command line: ``python -m cnnviz info|train|import|activations|attribution|oip|sweep|reproducibility|exemplars|
hand|compare``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .noise import FAMILIES

MAX_STEPS = 2000  # documented caps: a bigger request is refused, not silently cut
MAX_BATCH = 1024  # OIP items (maps x seeds x wavelength sets) in one call


class CLIError(Exception):
    """An invalid argument or input: printed as one line, exit status 2."""


def _quiet_tf() -> None:
    """Imports TensorFlow with its start-up chatter (CUDA probes, CPU flags) kept off stderr.

    Those lines are written by C++ before TF_CPP_MIN_LOG_LEVEL applies, so file
    descriptor 2 is pointed at a temporary file during the import; if the import fails
    its output is shown after all.
    """
    if os.environ.get("CNNVIZ_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        import tensorflow  # with CNNVIZ_DEBUG=1, TensorFlow says all it has to say
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # a CLI prints its own errors
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import tensorflow  # noqa: F401

            from .device import setup_device

            setup_device()  # the CUDA probe logs here on machines without a GPU
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load(path: str | None):
    from .model import default_model_path, load_model

    return load_model(path or default_model_path())


def cmd_info(args: argparse.Namespace) -> None:
    m = _load(args.model)
    from .device import setup_device

    info = {
        "model": str(m.path),
        "input_shape": list(m.input_shape),
        "classes": list(m.class_names),
        "layers": [row.to_dict() for row in m.layers],
        "dataset": m.metadata.get("dataset"),
        "standardization": m.standardization.as_dict(),
        "test_accuracy": m.metadata.get("test_accuracy"),
        "device": setup_device(),
    }
    if args.json:
        print(json.dumps(info, indent=1))
        return
    print(f"model            {info['model']}  (sha256 {m.sha256[:12]})")
    print(f"dataset          {info['dataset']}")
    print(f"input            {'×'.join(map(str, m.input_shape))}, {m.num_classes} classes")
    print(f"standardization  mean={m.standardization.mean:.4f} std={m.standardization.std:.4f}")
    acc = info["test_accuracy"]
    print(f"test accuracy    {acc:.4f}" if acc is not None else "test accuracy    unknown")
    print(f"device           {info['device']}\n")
    wide = max(11, *(len(r.name) + 1 for r in m.layers))
    kind = max(14, *(len(r.type) + 1 for r in m.layers))
    print(f"{'layer':<{wide}}{'type':<{kind}}{'output shape':<16}{'params':>9}{'RF':>5}{'jump':>6}  role")
    for r in m.layers:
        print(f"{r.name:<{wide}}{r.type:<{kind}}{str(r.output_shape):<16}{r.params:>9}{r.receptive_field:>5}"
              f"{'' if r.jump is None else r.jump:>6}  {r.role}")
    print(f"{'total':<{wide + kind + 16}}{sum(r.params for r in m.layers):>9}")


def cmd_train(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .config import TrainConfig
    from .training import train

    overrides = {k: getattr(args, k) for k in ("dataset", "epochs", "subset", "batch_size", "learning_rate",
                                                "momentum", "l2", "optimizer", "schedule", "seed")
                 if getattr(args, k) is not None}
    if str(overrides.get("dataset", "")).endswith(".npz"):  # the metadata names it wherever the model goes
        overrides["dataset"] = str(Path(overrides["dataset"]).resolve())
    config = TrainConfig(**overrides)
    out = Path(args.out or f"models/{Path(config.dataset).stem}.keras")
    if out.suffix != ".keras":
        raise CLIError(f"--out must end in .keras. Received: --out={out}")
    bar = None

    def progress(p) -> None:
        nonlocal bar
        if bar is None or bar.desc != f"epoch {p.epoch}/{p.epochs}":
            if bar is not None:
                bar.close()
            bar = tqdm(total=p.batches, desc=f"epoch {p.epoch}/{p.epochs}", unit="batch", file=sys.stderr)
        bar.n = p.batch
        post = {"loss": f"{p.loss:.4f}", "acc": f"{p.accuracy:.4f}", "lr": f"{p.learning_rate:.2g}"}
        if p.epoch_end and p.val_accuracy is not None:
            post["val_acc"] = f"{p.val_accuracy:.4f}"
        bar.set_postfix(post, refresh=True)

    result = train(config, out, on_progress=progress, resume=not args.no_resume)
    if bar is not None:
        bar.close()
    print(json.dumps({"model": str(out), "test_accuracy": result.metadata["test_accuracy"],
                      "test_loss": result.metadata["test_loss"],
                      "wall_time_s": round(result.metadata["wall_time_s"], 1)}))


def cmd_activations(args: argparse.Namespace) -> None:
    from .activations import probe
    from .images import save_map_grid

    m = _load(args.model)
    layer = m.spatial_layer(args.layer or _map_layers(m)[0]).name
    data = _test_image(m, args.image_index)
    acts = probe(m).run(m.standardization.apply(data.x_test[args.image_index: args.image_index + 1]))
    save_map_grid(acts[layer][0], args.out)
    print(json.dumps({"image_index": args.image_index, "label": int(data.y_test[args.image_index]),
                      "predicted": int(acts[m.output_layer][0].argmax()), "layer": layer, "out": str(args.out)}))


def _map_layers(m) -> list[str]:
    names = m.spatial_layers
    if not names:
        raise CLIError(f"{m.name} has no layer of maps (a convolution or pooling layer on the image grid).")
    return names


def _test_image(m, index: int):
    """The model's data set, once ``index`` is checked against its test images."""
    from .data import load_dataset

    data = load_dataset(m.metadata.get("dataset", "mnist"))
    if not 0 <= index < len(data.x_test):
        raise CLIError(f"--image-index must be in 0..{len(data.x_test) - 1}. Received: --image-index={index}")
    return data


def cmd_attribution(args: argparse.Namespace) -> None:
    import numpy as np

    from .attribution import attribution
    from .store import atomic_path

    m = _load(args.model)
    data = _test_image(m, args.image_index)
    a = attribution(m, data.x_test[args.image_index], args.method, layer=args.layer, cls=args.cls)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "attribution.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, map=a.map, grid=a.grid, probabilities=a.probabilities)
    summary = {**a.to_dict(), "image_index": args.image_index, "label": int(data.y_test[args.image_index]),
               "out": str(out / "attribution.npz")}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        names = m.class_names
        print(f"{a.method} of test image {args.image_index} (label {names[summary['label']]}) for class "
              f"{names[a.cls]}, predicted {names[a.predicted]} ({a.probabilities[a.predicted]:.1%})"
              f"{' on ' + a.layer if a.layer else ''}; wrote {summary['out']}")


def cmd_import(args: argparse.Namespace) -> None:
    from .importer import import_model

    meta = import_model(args.path, args.dataset, mean=args.mean, std=args.std, name=args.name,
                        folder=args.model_dir, force=args.force)
    if meta["warning"]:
        print(f"warning: {meta['warning']}", file=sys.stderr)
    print(json.dumps({k: meta[k] for k in ("path", "dataset", "standardization", "test_accuracy", "input_shape",
                                            "class_names")}, indent=1))


def _parse_node(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise CLIError(f"--node must be X,Y (two integers). Received: --node={text}") from None
    return x, y


def _parse_wavelengths(text: str) -> tuple[float, ...]:
    try:
        waves = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise CLIError(f"--wavelength must be numbers separated by commas. Received: --wavelength={text}") from None
    return waves


def cmd_oip(args: argparse.Namespace) -> None:
    import numpy as np
    from tqdm import tqdm

    from .images import save_oip_gif, save_oip_grid
    from .oip import OIPConfig, items_for, run_oip

    if not 1 <= args.steps <= MAX_STEPS:
        raise CLIError(f"--steps must be in 1..{MAX_STEPS}. Received: --steps={args.steps}")
    if not 1 <= args.seeds <= 64:
        raise CLIError(f"--seeds must be in 1..64. Received: --seeds={args.seeds}")
    waves = _parse_wavelengths(args.wavelength)
    node = _parse_node(args.node)
    m = _load(args.model)
    items = items_for(m, args.layer, args.maps, node=node, seeds=range(args.seed, args.seed + args.seeds),
                      wavelengths=[waves], noise=args.noise)
    if len(items) > MAX_BATCH:
        raise CLIError(f"At most {MAX_BATCH} items (maps x seeds) per call. Received: {len(items)} items")
    config = OIPConfig(steps=args.steps, step_size=args.step_size, blur_every=args.blur_every,
                       blur_sigma=args.blur_sigma, jitter=args.jitter, frame_every=args.frame_every,
                       redirect_steps=args.redirect_steps)
    with tqdm(total=args.steps, desc=f"OIP {args.layer} x{len(items)}", unit="step", file=sys.stderr,
              disable=None) as bar:
        result = run_oip(m, items, config, on_progress=lambda p: bar.update(p.step - bar.n))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .store import atomic_path

    with atomic_path(out / "oip.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, images=result.images, frames=result.frames, activation=result.activation,
                            frame_steps=result.frame_steps)
    save_oip_grid(result.display, out / "oip.png")
    save_oip_gif(result, out / "oip.gif")
    kind = m.layer(args.layer).role
    summary: dict[str, Any] = {
        "layer_role": kind,
        "items": [{"layer": it.layer, "map": it.map, "node": list(it.node) if it.node else None, "seed": it.seed,
                   "wavelength": list(it.wavelengths) if len(it.wavelengths) > 1 else it.wavelengths[0],
                   "start_activation": float(result.activation[i, 0]),
                   "end_activation": float(result.activation[i, -1])} for i, it in enumerate(items)],
        "loop_seconds": result.loop_seconds,  # the ascent alone
        "image_steps_per_second": result.image_steps_per_second,
        "compile_seconds": result.compile_seconds,  # tracing the compiled steps, once per process
    }
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        ends = result.activation[:, -1]
        print(f"{len(items)} OIPs of {args.layer}, {result.steps_done} steps in {result.loop_seconds:.2f} s "
              f"({result.image_steps_per_second:.0f} image-steps/s, after {result.compile_seconds:.2f} s of tracing); "
              f"end activation mean {ends.mean():.3f}, "
              f"max {ends.max():.3f}; wrote {out}/oip.npz, oip.png, oip.gif")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cnnviz", description="Look inside a convolutional network: the "
                                "articles' MNIST CNN or any Keras image classifier.")
    sub = p.add_subparsers(dest="command", required=True)
    model_help = "path to a .keras model (default: $CNNVIZ_MODEL_DIR/default.keras or models/default.keras)"

    s = sub.add_parser("info", help="layer table, data set, standardization, accuracy, device")
    s.add_argument("--model", help=model_help)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train the CNN and save <out>.keras and <out>.json")
    s.add_argument("--dataset", help="mnist (default), fashion-mnist, or an .npz of one's own (see `import`)")
    s.add_argument("--epochs", type=int)
    s.add_argument("--subset", type=int, help="train on the first K training images")
    s.add_argument("--batch-size", type=int)
    s.add_argument("--learning-rate", type=float)
    s.add_argument("--momentum", type=float)
    s.add_argument("--l2", type=float)
    s.add_argument("--optimizer", choices=["sgd", "rmsprop"])
    s.add_argument("--schedule", choices=["constant", "exponential", "step"])
    s.add_argument("--seed", type=int)
    s.add_argument("--out", help="output .keras path (default models/<dataset>.keras)")
    s.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("import", help="check a Keras image classifier against its data set and add it to the models")
    s.add_argument("path", metavar="PATH.keras")
    s.add_argument("--dataset", required=True, help="mnist, fashion-mnist, or an .npz with x_train, y_train, "
                   "x_test, y_test (and optional class_names)")
    s.add_argument("--mean", type=float, help="the input standardization's pixel mean on the 0..1 scale "
                   "(default: computed from the training images)")
    s.add_argument("--std", type=float, help="its pixel std on the 0..1 scale")
    s.add_argument("--name", help="the model's name in the folder (default: the file's)")
    s.add_argument("--model-dir", help="the model folder (default: $CNNVIZ_MODEL_DIR or models/)")
    s.add_argument("--force", action="store_true", help="replace a model of the same name")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("activations", help="PNG grid of every map of a layer for one test image")
    s.add_argument("--model", help=model_help)
    s.add_argument("--image-index", type=int, required=True)
    s.add_argument("--layer", help="a layer of maps (default: the first)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_activations)

    s = sub.add_parser("attribution", help="saliency, SmoothGrad or Grad-CAM of one test image; writes attribution.npz")
    s.add_argument("--model", help=model_help)
    s.add_argument("--image-index", type=int, required=True)
    s.add_argument("--method", choices=["saliency", "smoothgrad", "gradcam"], default="saliency")
    s.add_argument("--layer", help="Grad-CAM's layer of maps (default: the last)")
    s.add_argument("--class", dest="cls", type=int, help="the class to explain (default: the predicted one)")
    s.add_argument("--out", required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_attribution)

    s = sub.add_parser("oip", help="gradient-ascent OIP search; writes oip.npz, oip.png, oip.gif")
    s.add_argument("--model", help=model_help)
    s.add_argument("--layer", required=True, help="a layer of maps, a dense layer (its units) or the output (classes)")
    s.add_argument("--maps", required=True, help="e.g. 0-63 or 5,7: maps, or units/classes of a dense layer")
    s.add_argument("--node", help="X,Y: maximise one node instead of the map mean")
    s.add_argument("--seeds", type=int, default=1, help="number of noise seeds (1..64)")
    s.add_argument("--seed", type=int, default=0, help="first seed")
    s.add_argument("--wavelength", default="1", help="W or W1,W2 (a mix), pixels from 1 to the image's side")
    s.add_argument("--noise", choices=FAMILIES, default="lowpass",
                   help="start noise: lowpass (long-range fluctuations), bandpass (a ring at side/W) or mix (all scales)")
    s.add_argument("--steps", type=int, default=60, help=f"1..{MAX_STEPS}")
    s.add_argument("--step-size", type=float, default=0.1)
    s.add_argument("--blur-every", type=int, default=4, help="0 = no high-frequency suppression")
    s.add_argument("--blur-sigma", type=float, default=0.5)
    s.add_argument("--jitter", type=int, default=0)
    s.add_argument("--frame-every", type=int, default=5)
    s.add_argument("--redirect-steps", type=int, default=20,
                   help="first steps with the redirected-ReLU gradient that wakes dead maps (0 = off)")
    s.add_argument("--out", required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_oip)

    from .cli_insight import add_commands

    add_commands(sub, model_help)
    return p


def entry() -> None:
    """The ``cnnviz`` console script."""
    sys.exit(main())


def main(argv: list[str] | None = None) -> int:
    _quiet_tf()
    args = _parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        args.func(args)
    except (CLIError, ValueError, FileNotFoundError, OSError, NotImplementedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    del t0
    return 0
