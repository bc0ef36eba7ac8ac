"""The model atlas: the whole default model (32 + 64 + 64 maps, 70 dense units, 10 classes), its time split into
searches, exemplar passes and writing, and the searches' rate against the bare batched loop of ``benchmarks.oip``
on the same layers, batches and steps, side by side in one run.

    python -m benchmarks.atlas [--json] [--layers L1,L2]

Targets (issue 24), on the 2-core CPU: the whole atlas in at most 3 minutes, the searches at >= 80 % of the
bare loop's rate. The bare loop is timed warm on one batch per layer, the atlas's own batch size; its time for the
atlas's searches is that rate applied to each layer's searches.
"""

from __future__ import annotations

import tempfile
import time

from ._common import machine, options, report
from .oip import bare_loop


def main() -> None:
    args = options(__doc__, layers=None)

    from cnnviz.atlas import build_atlas, default_layers
    from cnnviz.catalog import default_model_path
    from cnnviz.data import load_dataset
    from cnnviz.dossier import batches  # the atlas's own batch sizes, for a like-for-like bare loop
    from cnnviz.model import load_model
    from cnnviz.oip import initial_images
    from cnnviz.search import DossierSettings, OIPItem

    m = load_model(default_model_path())
    data = load_dataset("mnist")
    layers = args.layers.split(",") if args.layers else default_layers(m)
    settings = DossierSettings()
    per_unit = len(settings.settings) * settings.seeds
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        r = build_atlas(m, f"{tmp}/atlas", data.x_test, data.y_test, layers, settings)
        wall = time.perf_counter() - t
    bare_seconds, per_layer = 0.0, {}
    for layer in layers:
        n = m.search_layer(layer).maps * per_unit
        size = batches(n)[0][1]
        items = [OIPItem(layer, i % m.search_layer(layer).maps, seed=i, wavelengths=(4.0,)) for i in range(size)]
        x0 = initial_images(items)
        bare_loop(m, layer, [it.map for it in items], x0, settings.steps, 0.1)  # traces
        warm = min(bare_loop(m, layer, [it.map for it in items], x0, settings.steps, 0.1)[1] for _ in range(2))
        rate = size * settings.steps / warm
        per_layer[layer] = {"batch": size, "bare_image_steps_per_s": round(rate)}
        bare_seconds += n * settings.steps / rate
    atlas_rate = r.image_steps / r.searches_seconds
    report({**machine(), "layers": r.layers, "pages": r.pages, "megabytes": round(r.bytes / 1e6, 1),
            "atlas_seconds": round(wall, 1), "searches_seconds": round(r.searches_seconds, 1),
            "exemplars_seconds": round(r.exemplars_seconds, 1), "writing_seconds": round(r.writing_seconds, 1),
            "search_image_steps_per_s": round(atlas_rate), "bare_seconds_for_the_same_searches": round(bare_seconds, 1),
            "searches_over_bare": round(bare_seconds / r.searches_seconds, 3), "bare_per_layer": per_layer}, args.json)


if __name__ == "__main__":
    main()
