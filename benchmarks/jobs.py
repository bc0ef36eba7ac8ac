"""Concurrent OIP jobs on Celery + Redis, with 1 and 2 workers on this machine.

    python -m benchmarks.jobs [--json] [--jobs 8] [--steps 200] [--maps 8]

Starts redis-server on loopback and Celery workers from the project (each with its own
engine process, as in the compose file), submits ``--jobs`` OIP searches at once (each a
different seed, so none is served from the cache or merged with another), and reports
the wall time for all of them, the throughput, and the latency of each job (submit to
result). Dash's polling adds up to its interval (0.5 s) on top of these figures in the app.
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.processes import free_port, start_process, stop_process

from ._common import ROOT, machine, options, report


def _run(n_workers: int, args, tmp: Path, redis_url: str) -> dict:
    env = {**os.environ, "CNNVIZ_JOBS": "celery", "REDIS_URL": redis_url, "CNNVIZ_CACHE_DIR": str(tmp / f"cache{n_workers}")}
    workers = [start_process([sys.executable, "-m", "celery", "-A", "app.celery_worker", "worker", "--loglevel=INFO",
                              f"--concurrency={max(1, args.jobs // n_workers)}", "-n", f"bench{i}-{n_workers}@%h"],
                             env, tmp / f"worker{i}-{n_workers}.log", ROOT)[0] for i in range(n_workers)]
    try:
        for i in range(n_workers):
            log = tmp / f"worker{i}-{n_workers}.log"
            deadline = time.time() + 240
            while " ready." not in log.read_text():
                if time.time() > deadline:
                    raise SystemExit(f"worker {i} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.5)
        os.environ.update({"CNNVIZ_JOBS": "celery", "REDIS_URL": redis_url})
        from celery import Celery

        client = Celery("cnnviz", broker=redis_url, backend=redis_url)
        items = lambda seed: [{"layer": "Conv2D_3", "map": m, "seed": seed, "wavelengths": (4,), "node": None}
                              for m in range(args.maps)]
        config = {"steps": args.steps, "frame_every": 10}
        # warm each worker's engine (first compile) before timing
        warm = [client.send_task("cnnviz.oip", args=["default", items(10_000 + i), config, f"warm-{n_workers}-{i}"])
                for i in range(2 * n_workers)]
        for w in warm:
            w.get(timeout=300)
        t0 = time.perf_counter()
        sent = [(time.perf_counter(), client.send_task("cnnviz.oip", args=["default", items(seed), config,
                                                                         f"bench-{n_workers}-{seed}"]))
                for seed in range(args.jobs)]
        latencies, results = [], []
        pending = list(sent)
        while pending:
            for entry in list(pending):
                t, res = entry
                if res.ready():
                    results.append(res.get())
                    latencies.append(time.perf_counter() - t)
                    pending.remove(entry)
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        del warm, sent, pending, entry, res  # let the AsyncResults go while Redis is still up
        gc.collect()
        assert all(not r["stopped"] and r["steps_done"] == args.steps for r in results)
        return {f"workers_{n_workers}_wall_s": wall, f"workers_{n_workers}_jobs_per_s": args.jobs / wall,
                f"workers_{n_workers}_image_steps_per_s": args.jobs * args.maps * args.steps / wall,
                f"workers_{n_workers}_latency_median_s": statistics.median(latencies),
                f"workers_{n_workers}_latency_max_s": max(latencies)}
    finally:
        for w in workers:
            stop_process(w, 20)


def main() -> None:
    args = options(__doc__, jobs=8, steps=200, maps=8)
    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("redis-server is not installed (Debian package redis-server).")
    tmp = Path(tempfile.mkdtemp(prefix="cnnviz-jobs-"))
    port = free_port()
    rproc, _ = start_process([redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             dict(os.environ), tmp / "redis.log")
    try:
        time.sleep(1)
        url = f"redis://127.0.0.1:{port}/0"
        res = {**machine(), "jobs": args.jobs, "maps_per_job": args.maps, "steps": args.steps}
        for n in (1, 2):
            res.update(_run(n, args, tmp, url))
        res["throughput_2_over_1"] = res["workers_2_jobs_per_s"] / res["workers_1_jobs_per_s"]
        report(res, args.json)
    finally:
        stop_process(rproc)


if __name__ == "__main__":
    main()
