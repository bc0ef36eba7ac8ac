"""Cost of the engine's training hooks: one epoch through cnnviz.train against a bare model.fit.

    python -m benchmarks.training [--json] [--subset K] [--rounds R]

Both fit the same architecture, optimizer and standardized data; rounds alternate the two
so that drift of a shared machine hits both alike. The engine side reports progress every
20 batches to a callable and polls a stop flag after every batch, as the app does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ._common import machine, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--subset", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args()

    from cnnviz.config import TrainConfig
    from cnnviz.data import Standardization, load_dataset
    from cnnviz.model import build_model
    from cnnviz.training import _optimizer, _split, train

    data = load_dataset("mnist")
    cfg = TrainConfig(epochs=1, subset=args.subset)
    std = Standardization.from_images(data.x_train)
    x_tr, y_tr, x_val, y_val = _split(data, cfg)
    xs, xv = std.apply(x_tr), std.apply(x_val)
    bare, engine, calls = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            def run_bare() -> None:
                model = build_model(cfg)
                batches = -(-len(x_tr) // cfg.batch_size)
                model.compile(optimizer=_optimizer(cfg, batches), loss="sparse_categorical_crossentropy",
                              metrics=["accuracy"])
                t = time.perf_counter()
                model.fit(xs, y_tr, batch_size=cfg.batch_size, epochs=1, validation_data=(xv, y_val),
                          shuffle=True, verbose=0)
                bare.append(time.perf_counter() - t)

            def run_engine(r: int = r) -> None:
                res = train(cfg, Path(tmp) / f"b{r}.keras", data=data, on_progress=calls.append,
                            should_stop=lambda: False, resume=False)
                engine.append(res.metadata["fit_seconds"])

            for fn in (run_bare, run_engine) if r % 2 == 0 else (run_engine, run_bare):
                fn()
    b, e = statistics.median(bare), statistics.median(engine)
    report({**machine(), "train_images": len(x_tr), "bare_fit_s": b, "engine_fit_s": e,
            "progress_reports": len(calls) // args.rounds, "bare_runs_s": [round(v, 2) for v in bare],
            "engine_runs_s": [round(v, 2) for v in engine], "overhead_percent": 100 * (e / b - 1)}, args.json)


if __name__ == "__main__":
    main()
