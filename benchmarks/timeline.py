"""The training timeline of a whole layer against the bare batched ascent, side by side.

    python -m benchmarks.timeline [--json] [--model PATH] [--layer Conv2D_3] [--seeds 4] [--steps 60]

The timeline runs every map of the layer (4 seeds, λ = 4, 60 steps) at every snapshot of a training; the same
searches are then run on the final model as one bare ``run_many`` call per snapshot's worth. The ratio of the
two rates (image-steps per second) is what the timeline's own work costs: loading each snapshot's weights,
the start objectives, the top images and the correlations. Target: 0.8 or more. The model must have a
history: without ``--model``, a 3-epoch model is trained first (about 3 minutes on a 2-core CPU).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ._common import machine, options, report


def main() -> None:
    args = options(__doc__, model=(None, "a model trained by cnnviz (with snapshots)"), layer="Conv2D_3", seeds=4,
                   steps=60)

    from cnnviz.config import TrainConfig
    from cnnviz.data import load_dataset
    from cnnviz.model import load_model
    from cnnviz.oip import planned_items, run_many
    from cnnviz.search import OIPConfig, Searches
    from cnnviz.timeline import timeline
    from cnnviz.training import train

    path = args.model
    if path is None:
        path = str(Path(tempfile.mkdtemp()) / "bench.keras")
        train(TrainConfig(epochs=3), path)
    m = load_model(path)
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    maps = list(range(m.spatial_layer(args.layer).maps))
    plan = Searches((4.0,), seeds=args.seeds, config=OIPConfig(steps=args.steps, frame_every=args.steps))
    run_many(m, planned_items(m, args.layer, maps[:2], plan), plan.config)  # warm: trace the ascent once
    t = time.perf_counter()
    tl = timeline(m, args.layer, maps, plan, images=data.x_test)
    timeline_s = time.perf_counter() - t
    snaps = len(tl.epochs)
    items = planned_items(m, args.layer, maps, plan)
    t = time.perf_counter()
    for _ in range(snaps):
        run_many(m, items, plan.config)
    bare_s = time.perf_counter() - t
    image_steps = snaps * len(items) * args.steps
    report({**machine(), "layer": args.layer, "maps": len(maps), "snapshots": snaps, "searches": snaps * len(items),
            "timeline_seconds": timeline_s, "bare_seconds": bare_s,
            "timeline_image_steps_per_s": image_steps / timeline_s, "bare_image_steps_per_s": image_steps / bare_s,
            "ratio_timeline_to_bare": bare_s / timeline_s}, args.json)


if __name__ == "__main__":
    main()
