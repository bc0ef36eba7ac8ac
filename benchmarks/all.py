"""Every benchmark in one run, one table: the figures for the README, on whatever machine this is.

    python -m benchmarks.all [--json] [--quick] [--skip NAME ...]

Each benchmark runs in its own process (``python -m benchmarks.<name> --json``), one after the other,
so none slows another. TensorFlow picks the GPU when it sees one (memory growth on, see
``cnnviz.device``); the device each benchmark ran on is in the table. ``--quick`` shortens the runs
(for a first look or a GPU lease with little time); the README's figures come from full runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from ._common import ROOT

# name -> (extra arguments, extra arguments with --quick, the figures that go into the table)
BENCHMARKS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "oip": ([], ["--steps", "40"], ["bare_tf_function_image_steps_per_s", "engine_defaults_image_steps_per_s",
                                    "engine_defaults_over_bare", "engine_over_seed", "engine_compile_seconds_first_run"]),
    "activations": ([], ["--repeat", "50"], ["engine_probe_ms", "model_predict_ms", "predict_over_engine"]),
    "attribution": ([], ["--repeat", "20"], ["saliency_engine_ms", "gradcam_engine_ms", "smoothgrad_engine_ms",
                                             "smoothgrad_eager_over_engine"]),
    "training": ([], ["--subset", "5000", "--rounds", "2"], ["bare_fit_s", "engine_fit_s", "overhead_percent"]),
    "sweep": ([], ["--seeds", "2", "--single", "8"], ["sweep_seconds", "sweep_image_steps_per_s",
                                                      "speedup_vs_one_per_call"]),
    "dashboard": ([], ["--repeat", "10", "--oip-runs", "1"], []),
    "jobs": ([], ["--jobs", "4", "--steps", "60"], []),
    "objectives": ([], ["--repeat", "1"], ["negative_over_plain", "diversity_over_plain", "expression_over_plain",
                                           "interpolation_over_plain"]),
    "atlas": ([], ["--layers", "Conv2D_3,Dense_2"], ["atlas_seconds", "searches_seconds", "exemplars_seconds",
                                                     "writing_seconds", "searches_over_bare"]),
}


def run(name: str, quick: bool) -> dict:
    full, short, _ = BENCHMARKS[name]
    cmd = [sys.executable, "-m", f"benchmarks.{name}", "--json", *(short if quick else full)]
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {p.returncode}", "wall_s": wall}
    try:
        start = p.stdout.index("{")
        return {**json.loads(p.stdout[start:]), "wall_s": wall}
    except ValueError:
        return {"error": "no JSON in its output", "wall_s": wall}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--skip", nargs="*", default=[], choices=list(BENCHMARKS), help="benchmarks to leave out")
    args = p.parse_args()
    results = {}
    for name in BENCHMARKS:
        if name in args.skip:
            continue
        print(f"running benchmarks.{name}…", file=sys.stderr, flush=True)
        results[name] = run(name, args.quick)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    first = next((r for r in results.values() if "device" in r), {})
    print(f"machine: {first.get('device', '?')}, {first.get('cpus', '?')} CPUs, {first.get('processor', '?')}, "
          f"Python {first.get('python', '?')}{' (quick runs)' if args.quick else ''}\n")
    print("| benchmark | device | figure | value |\n|---|---|---|---|")
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | | failed | {r['error'][:100]} |")
            continue
        keys = BENCHMARKS[name][2] or [k for k, v in r.items() if isinstance(v, (int, float)) and k != "cpus"][:6]
        for k in keys:
            if k in r:
                print(f"| {name} | {r.get('device', '?')} | {k} | {_fmt(r[k])} |")


if __name__ == "__main__":
    main()
