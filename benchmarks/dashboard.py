"""Server time of the dashboard's interactive callbacks, through the app's HTTP callback endpoint.

    python -m benchmarks.dashboard [--json] [--url http://127.0.0.1:8050] [--repeat N]

Without --url it starts ``python -m app`` on a free port (the real app, warm model) and
stops it afterwards. Measured: the Maps page's render callback when the layer changes and
when the image changes (POST /_dash-update-component, round trip on loopback), idle and then
loaded (a whole-layer OIP run and the Dense page's 10,000-image job running meanwhile, as
other users would); the OIP lab's map slider scrubbing through a cached whole-layer result
(server round trip per step); and, in headless Chromium when it is installed, the time from
pressing Run in the OIP lab to the first live frame on screen.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from harness.http_client import DashClient
from harness.processes import free_port, start_process, stop_process

from ._common import machine, report


def _post(url: str, body: dict) -> float:
    req = urllib.request.Request(url + "/_dash-update-component", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
        if r.status != 200:
            raise RuntimeError(f"callback answered {r.status}")
    return (time.perf_counter() - t) * 1000


def _render_body(url: str, layer: str, index: int) -> dict:
    with urllib.request.urlopen(url + "/_dash-dependencies", timeout=30) as r:
        deps = json.loads(r.read())
    cb = next(d for d in deps if "maps-grid.figure" in d["output"])
    values = {"shell-image.data": {"source": "test", "index": index}, "maps-layer.value": layer,
              "maps-scale.value": "map", "maps-mode.value": "image", "maps-class.value": None,
              "shell-model.value": "default", "maps-means-ready.data": None}
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in cb["output"].strip(".").split("...")]
    return {"output": cb["output"], "outputs": outputs, "changedPropIds": ["maps-layer.value"], "state": [],
            "inputs": [{"id": i["id"], "property": i["property"], "value": values[f"{i['id']}.{i['property']}"]}
                       for i in cb["inputs"]]}


def _series(url: str, repeat: int, vary: str) -> list[float]:
    times = []
    layers = ["Conv2D_1", "MaxPool_1", "Conv2D_2", "MaxPool_2", "Conv2D_3"]
    for i in range(repeat + 3):
        body = _render_body(url, layers[i % 5] if vary == "layer" else "Conv2D_2", i if vary == "image" else 0)
        if vary == "image":
            body["changedPropIds"] = ["shell-image.data"]
        ms = _post(url, body)
        if i >= 3:  # the first calls warm the engine's compiled functions
            times.append(ms)
    return times


def _load(url: str) -> list[threading.Thread]:
    """Other users' long jobs: a whole-layer OIP run (Conv2D_3, 64 maps × 4 seeds × 500 steps) and the
    Dense page's pass over the 10,000 test images, each through its background callback."""
    oip = {"oip-run.n_clicks": 1, "shell-model.value": "default", "oip-layer.value": "Conv2D_3", "oip-map.value": 0,
           "oip-whole.value": True, "oip-node-on.value": False, "oip-node-x.value": 1, "oip-node-y.value": 1,
           "oip-waves.value": [2, 2], "oip-mix.value": False, "oip-seeds.value": 4, "oip-steps.value": 500,
           "oip-step-size.value": 0.1, "oip-blur.value": 4, "oip-sigma.value": 0.5, "oip-jitter.value": 0,
           "oip-noise.value": "lowpass",
           "shell-session.data": secrets.token_hex(16)}
    jobs = [lambda: DashClient(url, "/oip").background("oip-done.data", oip, "oip-run.n_clicks", timeout=900),
            lambda: DashClient(url, "/dense").background("dense-ready.data", {"shell-model.value": "default"},
                                                         "shell-model.value", timeout=900)]
    def quietly(job) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - the app stops before these long jobs end; only their load counts
            pass

    threads = [threading.Thread(target=quietly, args=(job,), daemon=True) for job in jobs]
    for t in threads:
        t.start()
    return threads


def _scrub(url: str, repeat: int) -> list[float]:
    """Server round trip per map-slider step over a cached whole-layer result (Conv2D_3, 64 maps × 2 seeds)."""
    session = secrets.token_hex(16)
    oip = {"oip-run.n_clicks": 1, "shell-model.value": "default", "oip-layer.value": 4, "oip-map.value": 0,
           "oip-whole.value": True, "oip-node-on.value": False, "oip-node-x.value": 1, "oip-node-y.value": 1,
           "oip-waves.value": [2, 2], "oip-mix.value": False, "oip-seeds.value": 2, "oip-steps.value": 60,
           "oip-step-size.value": 0.1, "oip-blur.value": 4, "oip-sigma.value": 0.5, "oip-jitter.value": 0,
           "oip-noise.value": "lowpass",
           "shell-session.data": session}
    client = DashClient(url, "/oip")
    client.call("shell-oip-last.data", oip, "oip-run.n_clicks")
    done = client.background("oip-done.data", oip, "oip-run.n_clicks", timeout=600)["oip-done"]["data"]
    shown = client.call("oip-shown.data", {**oip, "oip-done.data": done}, "oip-done.data")["oip-shown"]["data"]
    values = {"oip-shown.data": shown}
    times = []
    for i in range(repeat + 3):
        t = time.perf_counter()
        out = client.call("oip-scrub.children", {**values, "oip-map-slider.value": i % 64}, "oip-map-slider.value")
        if "oip-scrub" not in out:
            raise RuntimeError("the map slider did not show a map")
        if i >= 3:
            times.append((time.perf_counter() - t) * 1000)
    return times


def _running_jobs(url: str) -> int:
    with urllib.request.urlopen(url + "/health", timeout=10) as r:
        return int(json.loads(r.read()).get("running_jobs") or 0)


def _first_live_frame(url: str, runs: int) -> list[float] | str:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.common.keys import Keys
    except ImportError:
        return "selenium not installed"
    opts = Options()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1920,1200", "--disable-background-networking"):
        opts.add_argument(a)
    try:
        driver = webdriver.Chrome(options=opts)
    except Exception as e:  # noqa: BLE001 - no browser: say so instead of a figure
        return f"no headless Chromium ({type(e).__name__})"
    title = ("const g = document.querySelector('#oip-live .js-plotly-plot');"
             "return g && g.layout && g.layout.title ? (g.layout.title.text || '') : ''")
    out = []
    try:
        for r in range(runs + 1):
            driver.get(url + "/oip")
            time.sleep(3)
            steps = driver.find_element("css selector", "#oip-steps input")
            steps.send_keys(Keys.CONTROL, "a")
            steps.send_keys(Keys.DELETE)
            steps.send_keys(str(490 - 10 * r), Keys.TAB)  # a new run each time: never a cached result
            time.sleep(0.5)
            t = time.perf_counter()
            driver.execute_script("document.getElementById('oip-run').click()")
            while not driver.execute_script(title).startswith("step"):
                if time.perf_counter() - t > 60:
                    raise RuntimeError("no live frame within 60 s")
                time.sleep(0.02)
            if r > 0:  # run 0 warms the engine
                out.append((time.perf_counter() - t) * 1000)
            driver.execute_script("document.getElementById('oip-cancel').click()")
            time.sleep(1)
    finally:
        driver.quit()
    return out


def _start_app() -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = {**os.environ, "CNNVIZ_PORT": str(port), "CNNVIZ_CACHE_DIR": tempfile.mkdtemp(prefix="cnnviz-bench-")}
    proc, _ = start_process([sys.executable, "-m", "app"], env, os.devnull)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return url, proc
        except OSError:
            time.sleep(0.5)
    stop_process(proc)
    raise SystemExit("the app did not start")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--url")
    p.add_argument("--repeat", type=int, default=40)
    p.add_argument("--oip-runs", type=int, default=3)
    args = p.parse_args()
    proc = None
    url = args.url
    if url is None:
        url, proc = _start_app()
    try:
        layer = _series(url, args.repeat, "layer")
        image = _series(url, args.repeat, "image")
        live = _first_live_frame(url, args.oip_runs)
        scrub = _scrub(url, args.repeat)
        load = _load(url)
        t = time.time()
        while _running_jobs(url) < 1 and time.time() - t < 60:  # the OIP job is running in the engine
            time.sleep(0.2)
        time.sleep(2)  # and the dense pass under way
        loaded = _series(url, args.repeat, "layer") + _series(url, args.repeat, "image")
        still = _running_jobs(url) > 0 and any(th.is_alive() for th in load)
    finally:
        if proc is not None:
            stop_process(proc)
    q = lambda xs, f: sorted(xs)[min(len(xs) - 1, int(f * len(xs)))]
    res = {**machine(), "maps_layer_switch_median_ms": statistics.median(layer), "maps_layer_switch_p90_ms": q(layer, 0.9),
           "maps_image_change_median_ms": statistics.median(image), "maps_image_change_p90_ms": q(image, 0.9),
           "maps_idle_p90_ms": q(layer + image, 0.9),
           "maps_loaded_median_ms": statistics.median(loaded), "maps_loaded_p90_ms": q(loaded, 0.9),
           "maps_loaded_p90_over_idle_p90": q(loaded, 0.9) / q(layer + image, 0.9),
           "load_still_running_at_end": still,
           "oip_map_slider_step_median_ms": statistics.median(scrub), "oip_map_slider_step_p90_ms": q(scrub, 0.9)}
    if isinstance(live, list):
        res.update({"oip_first_live_frame_median_ms": statistics.median(live), "oip_first_live_frame_max_ms": max(live)})
    else:
        res["oip_first_live_frame"] = live
    report(res, args.json)


if __name__ == "__main__":
    main()
