"""The model commands: ``info``, ``train``, ``import``, ``activations``, ``attribution``, ``oip``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..noise import FAMILIES
from ..search import MAX_ITEMS, MAX_SEEDS, MAX_STEPS
from .common import (
    MODEL_HELP,
    CLIError,
    add_json,
    add_method,
    emit,
    load,
    map_layers,
    method_config,
    parse_floats,
    parse_node,
    test_data,
    write_oip,
)
from .objective import add_objective_flags, cmd_objective, wants_objective


def cmd_info(args: argparse.Namespace) -> None:
    from ..device import setup_device

    m = load(args.model)
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
    acc = info["test_accuracy"]
    wide = max(11, *(len(r.name) + 1 for r in m.layers))
    kind = max(14, *(len(r.type) + 1 for r in m.layers))
    lines = [f"model            {info['model']}  (sha256 {m.sha256[:12]})", f"dataset          {info['dataset']}",
             f"input            {'×'.join(map(str, m.input_shape))}, {m.num_classes} classes",
             f"standardization  mean={m.standardization.mean:.4f} std={m.standardization.std:.4f}",
             f"test accuracy    {acc:.4f}" if acc is not None else "test accuracy    unknown",
             f"device           {info['device']}", "",
             f"{'layer':<{wide}}{'type':<{kind}}{'output shape':<16}{'params':>9}{'RF':>5}{'jump':>6}  role"]
    lines += [f"{r.name:<{wide}}{r.type:<{kind}}{str(r.output_shape):<16}{r.params:>9}{r.receptive_field:>5}"
              f"{'' if r.jump is None else r.jump:>6}  {r.role}" for r in m.layers]
    lines.append(f"{'total':<{wide + kind + 16}}{sum(r.params for r in m.layers):>9}")
    emit(args, info, "\n".join(lines))


def cmd_train(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from ..config import TrainConfig
    from ..training import train

    overrides = {k: getattr(args, k) for k in ("dataset", "epochs", "subset", "batch_size", "learning_rate",
                                                "momentum", "l2", "optimizer", "schedule", "seed", "snapshot_every")
                 if getattr(args, k) is not None}
    if str(overrides.get("dataset", "")).endswith(".npz"):  # the metadata names it wherever the model goes
        overrides["dataset"] = str(Path(overrides["dataset"]).resolve())
    config = TrainConfig(**overrides)
    out = Path(args.out or f"models/{Path(config.dataset).stem}.keras")
    if out.suffix != ".keras":
        raise CLIError(f"--out must end in .keras. Received: --out={out}")
    bars: list[Any] = []  # one per epoch
    epochs: list[int] = []

    def progress(p) -> None:
        if not epochs or epochs[-1] != p.epoch:
            if bars:
                bars[-1].close()
            epochs.append(p.epoch)
            bars.append(tqdm(total=p.batches, desc=f"epoch {p.epoch}/{p.epochs}", unit="batch", file=sys.stderr,
                             disable=None))
        bars[-1].n = p.batch
        post = {"loss": f"{p.loss:.4f}", "acc": f"{p.accuracy:.4f}", "lr": f"{p.learning_rate:.2g}"}
        if p.epoch_end and p.val_accuracy is not None:
            post["val_acc"] = f"{p.val_accuracy:.4f}"
        bars[-1].set_postfix(post, refresh=True)

    result = train(config, out, on_progress=progress, resume=not args.no_resume)
    if bars:
        bars[-1].close()
    meta = result.metadata
    report = {"model": str(out), "test_accuracy": meta["test_accuracy"], "test_loss": meta["test_loss"],
              "wall_time_s": round(meta["wall_time_s"], 1)}
    emit(args, report, f"saved {out}: test accuracy {meta['test_accuracy']:.4f}, loss {meta['test_loss']:.4f}, "
                       f"{meta['wall_time_s']:.0f} s")


def cmd_import(args: argparse.Namespace) -> None:
    from ..importer import import_model

    meta = import_model(args.path, args.dataset, mean=args.mean, std=args.std, name=args.name,
                        folder=args.model_dir, force=args.force, accuracy=args.accuracy)
    if meta["warning"]:
        print(f"warning: {meta['warning']}", file=sys.stderr)
    report = {k: meta[k] for k in ("path", "dataset", "standardization", "test_accuracy", "input_shape",
                                   "class_names")}
    std = meta["standardization"]
    emit(args, {**report, "standardization_source": meta["standardization_source"],
                "standardization_tried": meta["standardization_tried"]},
         f"imported {meta['path']}: test accuracy {meta['test_accuracy']:.4f} on {meta['dataset']} with mean "
         f"{std['mean']:.4f}, std {std['std']:.4f} ({meta['standardization_source']})")


def cmd_activations(args: argparse.Namespace) -> None:
    from ..activations import probe
    from ..images import save_map_grid

    m = load(args.model)
    layer = m.spatial_layer(args.layer or map_layers(m)[0]).name
    data = test_data(m, args.image_index)
    acts = probe(m).run(m.standardization.apply(data.x_test[args.image_index: args.image_index + 1]))
    label, predicted = int(data.y_test[args.image_index]), int(acts[m.output_layer][0].argmax())
    names = m.class_names
    save_map_grid(acts[layer][0], args.out, title=f"{m.name} {layer} · test image {args.image_index} "
                                                  f"(label {names[label]}, predicted {names[predicted]})")
    report = {"image_index": args.image_index, "label": label, "predicted": predicted, "layer": layer,
              "out": str(args.out)}
    emit(args, report, f"{layer}: {acts[layer].shape[-1]} maps of test image {args.image_index} (label {names[label]}, "
                       f"predicted {names[predicted]}); wrote {args.out}")


def cmd_attribution(args: argparse.Namespace) -> None:
    import numpy as np

    from ..attribution import attribution
    from ..images import save_attribution
    from ..store import atomic_path

    m = load(args.model)
    data = test_data(m, args.image_index)
    a = attribution(m, data.x_test[args.image_index], args.method, layer=args.layer, cls=args.cls)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "attribution.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, map=a.map, grid=a.grid, probabilities=a.probabilities)
    names = m.class_names
    label = int(data.y_test[args.image_index])
    title = (f"{a.method}{' on ' + a.layer if a.layer else ''} · test image {args.image_index} (label {names[label]}) · "
             f"class {names[a.cls]}, predicted {names[a.predicted]} {a.probabilities[a.predicted]:.0%}")
    save_attribution(data.x_test[args.image_index], a.map, out / "attribution.png", title)
    report = {**a.to_dict(), "image_index": args.image_index, "label": label, "out": str(out / "attribution.npz"),
              "png": str(out / "attribution.png")}
    emit(args, report, f"{a.method} of test image {args.image_index} (label {names[label]}) for class "
                       f"{names[a.cls]}, predicted {names[a.predicted]} ({a.probabilities[a.predicted]:.1%})"
                       f"{' on ' + a.layer if a.layer else ''}; wrote {report['out']} and {report['png']}")


def cmd_sanity(args: argparse.Namespace) -> None:
    from ..data import load_dataset
    from ..sanity import sanity_check

    m = load(args.model)
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    if not 2 <= args.images <= min(256, len(data.x_test)):
        raise CLIError(f"--images must be in 2..{min(256, len(data.x_test))}. Received: --images={args.images}")
    r = sanity_check(m, data.x_test[:args.images], args.method, layer=args.layer, seed=args.seed)
    lines = [f"{args.method}{' on ' + r.layer if r.layer else ''} of {m.name}, {args.images} test images, weights "
             f"re-initialised from the top down (Spearman of each map with the trained model's, mean over images):"]
    for row in r.rows():
        lines.append(f"  {row['randomised_down_to']:>12}: image-specific {row['specific_spearman']:+.2f}, raw "
                     f"{row['raw_spearman']:+.2f}")
    high = float(r.raw[-1].mean()) > float(r.specific[-1].mean()) + 0.1
    lines.append(("passes" if r.passes else "FAILS") + ": the image-specific similarity after full randomisation is "
                 f"{r.specific[-1].mean():.2f} ({'below' if r.passes else 'not below'} 0.2)." +
                 (" The raw one stays higher because every map shares the digits' layout (bright strokes, dark "
                  "border), whatever the weights." if high else ""))
    emit(args, r.summary(), "\n".join(lines))


def cmd_oip(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from ..oip import items_for, keeps_in_range, run_oip

    if not 1 <= args.steps <= MAX_STEPS:
        raise CLIError(f"--steps must be in 1..{MAX_STEPS}. Received: --steps={args.steps}")
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise CLIError(f"--seeds must be in 1..{MAX_SEEDS}. Received: --seeds={args.seeds}")
    config = method_config(args, steps=args.steps, step_size=args.step_size, blur_every=args.blur_every,
                           blur_sigma=args.blur_sigma, jitter=args.jitter, frame_every=args.frame_every)
    if wants_objective(args):
        return cmd_objective(args, config)
    if not args.layer or args.maps is None:
        raise CLIError("oip needs --layer and --maps (or --objective EXPR)")
    waves, node = parse_floats(args.wavelength, "--wavelength"), parse_node(args.node)
    m = load(args.model)
    items = items_for(m, args.layer, args.maps, node=node, seeds=range(args.seed, args.seed + args.seeds),
                      wavelengths=[waves], noise=args.noise)
    if len(items) > MAX_ITEMS:
        raise CLIError(f"At most {MAX_ITEMS} items (maps x seeds) per call. Received: {len(items)} items")
    with tqdm(total=args.steps, desc=f"OIP {args.layer} x{len(items)}", unit="step", file=sys.stderr,
              disable=None) as bar:
        result = run_oip(m, items, config, on_progress=lambda p: bar.update(p.step - bar.n))
    write_oip(m, result, Path(args.out))
    report: dict[str, Any] = {
        "layer_role": m.layer(args.layer).role,
        "items": [{"layer": it.layer, "map": it.map, "node": list(it.node) if it.node else None, "seed": it.seed,
                   "wavelength": list(it.wavelengths) if len(it.wavelengths) > 1 else it.wavelengths[0],
                   "noise": it.noise, "start_activation": float(result.activation[i, 0]),
                   "end_activation": float(result.activation[i, -1]),
                   "out_of_range": float(result.out_of_range[i])} for i, it in enumerate(items)],
        "method": config.method, "in_range": keeps_in_range(m, args.layer, config),
        "loop_seconds": result.loop_seconds,  # the ascent alone
        "image_steps_per_second": result.image_steps_per_second,
        "compile_seconds": result.compile_seconds,  # tracing the compiled steps, once per process
    }
    ends = result.end_activation
    emit(args, report, f"{len(items)} OIPs of {args.layer}, {result.steps_done} steps in {result.loop_seconds:.2f} s "
                       f"({result.image_steps_per_second:.0f} image-steps/s, after {result.compile_seconds:.2f} s of "
                       f"tracing); end activation mean {ends.mean():.3f}, max {ends.max():.3f}; "
                       f"{100 * float(result.out_of_range.mean()):.0f} % of the pixels outside the data's range; "
                       f"wrote {args.out}/oip.npz, "
                       "oip.png, oip.gif")


def add_commands(sub: Any) -> None:
    """Registers the model commands on the CLI's sub-parsers."""
    s = sub.add_parser("info", help="layer table, data set, standardization, accuracy, device")
    s.add_argument("--model", help=MODEL_HELP)
    add_json(s)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train the CNN and save <out>.keras and <out>.json")
    s.add_argument("--dataset", help="mnist (default), fashion-mnist, or an .npz of one's own (see `import`)")
    s.add_argument("--epochs", type=int)
    s.add_argument("--subset", type=int, help="train on the first K training images")
    s.add_argument("--snapshot-every", type=int, metavar="K",
                   help="also keep the weights every K batches of the first epoch, where most of the change happens "
                        "(for `timeline`; default: after every epoch only)")
    s.add_argument("--batch-size", type=int)
    s.add_argument("--learning-rate", type=float)
    s.add_argument("--momentum", type=float)
    s.add_argument("--l2", type=float)
    s.add_argument("--optimizer", choices=["sgd", "rmsprop"])
    s.add_argument("--schedule", choices=["constant", "exponential", "step"])
    s.add_argument("--seed", type=int)
    s.add_argument("--out", help="output .keras path (default models/<dataset>.keras)")
    s.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    add_json(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("import", help="check a Keras image classifier against its data set and add it to the models")
    s.add_argument("path", metavar="PATH.keras")
    s.add_argument("--dataset", required=True, help="mnist, fashion-mnist, or an .npz with x_train, y_train, "
                   "x_test, y_test (and optional class_names)")
    s.add_argument("--mean", type=float, help="the input standardization's pixel mean on the 0..1 scale "
                   "(default: the best of the data set's own, 0..1 pixels and -1..1 pixels, by test accuracy)")
    s.add_argument("--std", type=float, help="its pixel std on the 0..1 scale")
    s.add_argument("--name", help="the model's name in the folder (default: the file's)")
    s.add_argument("--model-dir", help="the model folder (default: $CNNVIZ_MODEL_DIR or models/)")
    s.add_argument("--force", action="store_true", help="replace a model of the same name")
    s.add_argument("--accuracy", type=float, help="the model's own test accuracy (0..1), if known: a measured one "
                   "far below it is a warning")
    add_json(s)
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("activations", help="labelled PNG grid of every map of a layer for one test image")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--image-index", type=int, required=True)
    s.add_argument("--layer", help="a layer of maps (default: the first)")
    s.add_argument("--out", required=True, help="the PNG to write")
    add_json(s)
    s.set_defaults(func=cmd_activations)

    s = sub.add_parser("attribution", help="saliency, SmoothGrad or Grad-CAM of one test image; writes attribution.npz "
                                           "and the overlay attribution.png")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--image-index", type=int, required=True)
    s.add_argument("--method", choices=["saliency", "smoothgrad", "gradcam"], default="saliency")
    s.add_argument("--layer", help="Grad-CAM's layer of maps (default: the last)")
    s.add_argument("--class", dest="cls", type=int, help="the class to explain (default: the predicted one)")
    s.add_argument("--out", required=True, help="a folder")
    add_json(s)
    s.set_defaults(func=cmd_attribution)

    s = sub.add_parser("sanity", help="the cascading randomisation test of an attribution method: do its maps "
                                      "depend on the weights?")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--method", choices=["saliency", "smoothgrad", "gradcam"], default="saliency")
    s.add_argument("--images", type=int, default=32, help="test images (the first N)")
    s.add_argument("--layer", help="Grad-CAM's layer of maps (default: the last)")
    s.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    add_json(s)
    s.set_defaults(func=cmd_sanity)

    _add_oip(sub)


def _add_oip(sub: Any) -> None:
    s = sub.add_parser("oip", help="gradient-ascent OIP search; writes oip.npz, oip.png, oip.gif")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--layer", help="a layer of maps, a dense layer (its units) or the output (classes)")
    s.add_argument("--maps", help="e.g. 0-63 or 5,7: maps, or units/classes of a dense layer")
    s.add_argument("--node", help="X,Y: maximise one node instead of the map mean")
    s.add_argument("--seeds", type=int, default=1, help=f"number of noise seeds (1..{MAX_SEEDS})")
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
    add_method(s)
    add_objective_flags(s)
    s.add_argument("--out", required=True, help="a folder")
    add_json(s)
    s.set_defaults(func=cmd_oip)
