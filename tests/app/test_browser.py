"""Every page in headless Chromium, against the real app process (``python -m app``)."""

from __future__ import annotations

import time

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from .conftest import get_json

pytestmark = pytest.mark.system  # a real browser against the real app


PAGES = [("/", "Architecture"), ("/training", "New model"), ("/maps", "Input"), ("/dense", "Class means"),
         ("/oip", "Search"), ("/insight", "Analysis")]


def open_page(dash_duo, server, path):
    dash_duo.wait_for_page(url=server + path, timeout=30)


def no_console_errors(dash_duo):
    logs = [entry for entry in dash_duo.get_logs() or [] if "favicon" not in entry.get("message", "")]
    assert logs == [], logs


def set_input(dash_duo, selector, value):
    el = dash_duo.find_element(selector)
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.DELETE)
    el.send_keys(str(value), Keys.TAB)


def wait_until(fn, timeout, what, dash_duo=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = fn()
        except StaleElementReferenceException:
            # Dash re-rendered the element between finding it and reading it: read again
            value = None
        if value:
            return value
        time.sleep(0.25)
    page = ""
    if dash_duo is not None:  # what the page showed, to tell a slow machine from a broken page
        page = dash_duo.driver.execute_script("return document.body.innerText.slice(0, 1500)")
        page += f"\nconsole: {dash_duo.get_logs()}"
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{page}")


def wait_until_or_none(fn, timeout):
    """``fn()``'s first truthy value within ``timeout`` seconds, or None."""
    try:
        return wait_until(fn, timeout, "")
    except AssertionError:
        return None


def js_click(dash_duo, selector):
    dash_duo.driver.execute_script("arguments[0].click()", dash_duo.find_element(selector))


def start_run(dash_duo, server, path, page, inputs, clicks=()):
    """Opens ``path``, clicks ``clicks``, sets ``inputs`` ({selector: value}) and presses ``#<page>-run``."""
    open_page(dash_duo, server, path)
    dash_duo.wait_for_element(f"#{page}-run", timeout=30)
    for selector in clicks:
        js_click(dash_duo, selector)
    for selector, value in inputs.items():
        set_input(dash_duo, selector, value)
    time.sleep(0.5)
    js_click(dash_duo, f"#{page}-run")


def graph_title(dash_duo, graph_id):
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g.layout && g.layout.title ? (g.layout.title.text || '') : ''")


@pytest.mark.parametrize("path,text", PAGES, ids=[p for p, _ in PAGES])
def test_page_loads_without_console_errors(dash_duo, server, path, text):
    open_page(dash_duo, server, path)
    dash_duo.wait_for_contains_text("body", text, timeout=30)
    dash_duo.wait_for_contains_text("#shell-model", "default", timeout=30)
    time.sleep(2)  # let the page's first callbacks finish
    assert dash_duo.find_elements(".dash-fe-error__title") == []
    no_console_errors(dash_duo)


def test_model_page_shows_the_architecture(dash_duo, server):
    open_page(dash_duo, server, "/")
    dash_duo.wait_for_contains_text("#model-table", "Conv2D_3", timeout=30)
    table = dash_duo.find_element("#model-table").text
    assert "18×18" in table and "96,844" in table
    dash_duo.wait_for_contains_text("#model-meta", "99.", timeout=30)
    no_console_errors(dash_duo)


def test_maps_layer_switch_and_class_average(dash_duo, server):
    open_page(dash_duo, server, "/maps")
    wait_until(lambda: "Conv2D_1: 32 maps" in graph_title(dash_duo, "maps-grid"), 30, "the Conv2D_1 grid", dash_duo)
    click_slider_mark(dash_duo, "maps-layer", "Conv2D 2")
    wait_until(lambda: "Conv2D_2: 64 maps" in graph_title(dash_duo, "maps-grid"), 30, "the Conv2D_2 grid", dash_duo)
    set_input(dash_duo, "#maps-index", 3)
    wait_until(lambda: "test image 3" in graph_title(dash_duo, "maps-grid"), 30, "image 3", dash_duo)
    js_click(dash_duo, "#maps-mode input[value='average']")
    dash_duo.select_dcc_dropdown("#maps-class", value="4")
    wait_until(lambda: "mean over class 4" in graph_title(dash_duo, "maps-grid"), 120, "the class average", dash_duo)
    no_console_errors(dash_duo)


def test_bad_upload_shows_a_message(dash_duo, server, tmp_path):
    bad = tmp_path / "digit.png"
    bad.write_bytes(b"this is not an image at all")
    open_page(dash_duo, server, "/maps")
    wait_until(lambda: "maps" in graph_title(dash_duo, "maps-grid"), 90, "the page's first callbacks", dash_duo)
    js_click(dash_duo, "#maps-source input[value='upload']")
    dash_duo.find_element("#maps-upload input[type=file]").send_keys(str(bad))
    dash_duo.wait_for_contains_text("#maps-message", "Not a readable PNG or JPEG", timeout=30)
    assert get_json(server + "/health")["status"] == "ok"  # the server keeps serving


def _frames(dash_duo):
    return dash_duo.driver.execute_script(
        "const g = document.querySelector('#oip-animation .js-plotly-plot');"
        "return g && g._transitionData ? g._transitionData._frames.length : 0")


def test_oip_run_after_tf_callbacks_goes_live_then_animates(dash_duo, server):
    """Also the fork hazard: the web process has served TF-backed callbacks (Maps) before this
    background job forks from it; the job must complete, and TF must never be in the web process."""
    check_oip_run(dash_duo, server)


def check_oip_run(dash_duo, server):
    open_page(dash_duo, server, "/maps")
    wait_until(lambda: "maps" in graph_title(dash_duo, "maps-grid"), 90, "TF-backed map callbacks", dash_duo)
    start_run(dash_duo, server, "/oip", "oip", {"#oip-steps input": 500, "#oip-seeds input": 8})
    # Live: the preview strip shows intermediate steps before the animation appears.
    seen = set()

    def watch():
        title = graph_title(dash_duo, "oip-live")
        if title.startswith("step"):
            seen.add(int(title.split()[1]))
        return _frames(dash_duo)

    wait_until(watch, 120, "the animation", dash_duo)
    assert any(s < 500 for s in seen), seen
    assert graph_title(dash_duo, "oip-live") == "step 500"  # the final state is shown at the end
    # 500 steps, a frame every ceil(500 / 40) = 13 steps: 39 frames after the start one
    assert _frames(dash_duo) == 40
    assert graph_title(dash_duo, "oip-animation") == "step 500"  # a short title; each tile has its own label
    assert any(t.startswith("map 0 λ=1 seed 7") for t in annotations(dash_duo, "oip-animation"))
    dash_duo.wait_for_contains_text("#oip-message", "Done", timeout=10)
    assert get_json(server + "/health")["tensorflow_in_web_process"] is False
    no_console_errors(dash_duo)


def test_oip_cancel_stops_a_long_run(dash_duo, server):
    check_oip_cancel(dash_duo, server)


def check_oip_cancel(dash_duo, server, engine_jobs=True):
    start_run(dash_duo, server, "/oip", "oip", {"#oip-steps input": 500, "#oip-seeds input": 4}, ["#oip-whole"])
    wait_until(lambda: graph_title(dash_duo, "oip-live").startswith("step"), 60, "a live frame", dash_duo)
    assert dash_duo.find_element("#oip-run").get_attribute("disabled")
    js_click(dash_duo, "#oip-cancel")
    wait_until(lambda: not dash_duo.find_element("#oip-run").get_attribute("disabled"), 30, "Run enabled again", dash_duo)
    label = graph_title(dash_duo, "oip-live")
    time.sleep(3)
    assert graph_title(dash_duo, "oip-live") == label  # no more frames after cancel
    assert "step 500/500" not in label
    if engine_jobs:  # the engine's job stopped too (Dash's cancel alone only ends the watching process)
        wait_until(lambda: get_json(server + "/health")["running_jobs"] == 0, 30, "the engine job to stop", dash_duo)


def test_training_shows_curves_then_the_new_model(dash_duo, server):
    check_training(dash_duo, server, "browser-run")


def check_training(dash_duo, server, name):
    open_page(dash_duo, server, "/training")
    dash_duo.wait_for_element("#train-start", timeout=30)
    set_input(dash_duo, "#train-epochs", 1)
    set_input(dash_duo, "#train-subset", 1000)
    set_input(dash_duo, "#train-name", name)
    # the page's callbacks are live once the selected model's history panel is filled: a click before is lost
    wait_until(lambda: dash_duo.find_element("#train-history").text, 60, "the history panel", dash_duo)
    js_click(dash_duo, "#train-start")
    started = ("return document.querySelector('#train-start').disabled || "
               "!!document.querySelector('#train-message').innerText")
    if not wait_until_or_none(lambda: dash_duo.driver.execute_script(started), 20):
        js_click(dash_duo, "#train-start")  # the click was lost (a busy machine): press again, as a user would
    dash_duo.wait_for_contains_text("#train-message", "saved", timeout=240)
    n_points = dash_duo.driver.execute_script(
        "const g = document.querySelector('#train-curves .js-plotly-plot');"
        "return g && g.data && g.data.length ? g.data[0].x.length : 0")
    assert n_points >= 1
    dash_duo.wait_for_contains_text("#shell-model", name, timeout=30)
    # a second run with the same name is refused in the form
    js_click(dash_duo, "#train-start")
    dash_duo.wait_for_contains_text("#train-message", "exists already", timeout=30)
    no_console_errors(dash_duo)


def test_oip_result_survives_a_page_switch(dash_duo, server):
    start_run(dash_duo, server, "/oip", "oip", {"#oip-map": 7, "#oip-steps input": 480, "#oip-seeds input": 8})
    wait_until(lambda: graph_title(dash_duo, "oip-live").startswith("step"), 120, "the run to start", dash_duo)
    js_click(dash_duo, ".navbar a.nav-link[href='/']")  # leave while it runs (client-side page switch)
    dash_duo.wait_for_contains_text("#model-table", "Conv2D_3", timeout=30)
    js_click(dash_duo, ".navbar a.nav-link[href='/oip']")
    wait_until(lambda: _frames(dash_duo), 120, "the earlier run's animation after coming back", dash_duo)
    assert any(t.startswith("map 7 ") for t in annotations(dash_duo, "oip-animation"))
    no_console_errors(dash_duo)


def test_a_drawn_digit_is_classified(dash_duo, server):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(dash_duo, server, "/maps")
    wait_until(lambda: "maps" in graph_title(dash_duo, "maps-grid"), 90, "the page's first callbacks", dash_duo)
    js_click(dash_duo, "#maps-source input[value='draw']")
    time.sleep(0.5)
    canvas = dash_duo.find_element("#maps-draw .draglayer .nsewdrag")
    # below the modebar's strip at the top (issue 10 moves the modebar off the canvas)
    stroke = ActionChains(dash_duo.driver).move_to_element(canvas).move_by_offset(0, -40).click_and_hold()
    for _ in range(12):
        stroke.move_by_offset(1, 8)  # a near-vertical stroke: a "1"
    stroke.release().perform()
    time.sleep(0.5)
    js_click(dash_duo, "#maps-draw-use")
    wait_until(lambda: "drawing" in graph_title(dash_duo, "maps-grid") or dash_duo.find_element("#maps-message").text,
               30, "the drawing's maps")
    assert "drawing" in graph_title(dash_duo, "maps-grid"), dash_duo.find_element("#maps-message").text
    probs = dash_duo.driver.execute_script(
        "const g = document.querySelector('#maps-probs .js-plotly-plot'); return g.layout.title.text")
    assert probs.startswith("Prediction: 1"), probs
    no_console_errors(dash_duo)


def click_plot(dash_duo, graph_id: str, x, y) -> None:
    """Clicks the plot of ``#graph_id`` with the mouse at data coordinates (x, y), as a user does."""
    from selenium.webdriver.common.action_chains import ActionChains

    drag = dash_duo.find_element(f"#{graph_id} .nsewdrag")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", drag)
    where = "return JSON.stringify(document.querySelector(arguments[0]).getBoundingClientRect())"
    before = None
    for _ in range(40):  # wait until the page stops moving (figures above it still loading)
        time.sleep(0.25)
        now = dash_duo.driver.execute_script(where, f"#{graph_id} .nsewdrag")
        if now == before:
            break
        before = now
    drag = dash_duo.find_element(f"#{graph_id} .nsewdrag")
    # pixels from the plot area's top-left corner, where selenium 4.2 measures offsets from
    dx, dy = dash_duo.driver.execute_script("""
        const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [xa.l2p(xa.d2l(arguments[1])), ya.l2p(ya.d2l(arguments[2]))];""", f"#{graph_id}", x, y)
    ActionChains(dash_duo.driver).move_to_element_with_offset(drag, int(round(dx)), int(round(dy))).click().perform()


def annotations(dash_duo, graph_id: str) -> list[str]:
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g.layout.annotations ? g.layout.annotations.map(a => a.text) : []")


def click_slider_mark(dash_duo, slider_id: str, label: str) -> None:
    """Clicks a dcc.Slider's track with the mouse right above the mark labelled ``label``."""
    from selenium.webdriver.common.action_chains import ActionChains

    mark = dash_duo.driver.find_element(By.XPATH, f"//*[@id='{slider_id}']//*[normalize-space(text())='{label}']")
    track = dash_duo.find_element(f"#{slider_id} .dash-slider-track")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", track)
    time.sleep(0.2)
    x = mark.rect["x"] + mark.rect["width"] / 2 - track.rect["x"]  # selenium 4.2: offsets from the top-left
    ActionChains(dash_duo.driver).move_to_element_with_offset(track, int(x), int(track.rect["height"] / 2)) \
        .click().perform()


def test_the_lab_interpolates_between_two_maps(dash_duo, server):
    """The objective selector: interpolation from map 13 to map 25, its strip of frames and its verdict."""
    start_run(dash_duo, server, "/oip", "oip", {"#oip-map": 13, "#oip-to-map": 25, "#oip-frames": 6},
              clicks=("#oip-mode input[value=interpolation]",))
    dash_duo.wait_for_element("#oip-strip", timeout=120)
    dash_duo.wait_for_contains_text("#oip-result", "A's share", timeout=30)
    assert "Conv2D_3:13 → Conv2D_3:25 (6 frames" in dash_duo.find_element("#oip-result").text
    no_console_errors(dash_duo)


def test_the_timeline_slider_scrubs_epochs_without_a_new_run(dash_duo, server, model_dir, mnist):
    """A model with a history: the Insight timeline's epoch slider, dragged with the mouse, shows another epoch's
    OIPs from the result on screen (the view is not rendered again, no job runs)."""
    from selenium.webdriver.common.action_chains import ActionChains

    from cnnviz.config import TrainConfig
    from cnnviz.training import train

    train(TrainConfig(subset=1000, validation=1000, epochs=2, batch_size=50, learning_rate=0.05),
          model_dir / "history.keras", data=mnist)
    open_page(dash_duo, server, "/insight?analysis=timeline&layer=Conv2D_3")
    dash_duo.wait_for_element("#insight-run", timeout=30)
    dash_duo.wait_for_contains_text("#shell-model", "default", timeout=30)
    dash_duo.select_dcc_dropdown("#shell-model", value="history")
    dash_duo.wait_for_contains_text("#shell-model", "history", timeout=30)
    set_input(dash_duo, "#insight-steps input", 20)
    time.sleep(0.5)
    js_click(dash_duo, "#insight-run")
    dash_duo.wait_for_element("#insight-timeline .slider-rail-touch-rect", timeout=180)
    state = """const gd = document.querySelector('#insight-timeline .js-plotly-plot');
               return [gd._fullLayout.sliders[0].active, JSON.stringify(gd.data[0].z).slice(0, 4000),
                       gd.dataset.marked || null];"""
    dash_duo.driver.execute_script("document.querySelector('#insight-timeline .js-plotly-plot').dataset.marked = 'x'")
    active, z, _ = dash_duo.driver.execute_script(state)
    assert active == 2  # the last epoch first
    rail = dash_duo.find_element("#insight-timeline .slider-rail-touch-rect")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", rail)
    time.sleep(0.5)
    ActionChains(dash_duo.driver).move_to_element_with_offset(rail, 3, rail.size["height"] // 2).click().perform()
    wait_until(lambda: dash_duo.driver.execute_script(state)[0] == 0, 10, "the slider at epoch 0", dash_duo)
    wait_until(lambda: dash_duo.driver.execute_script(state)[1] != z, 10, "epoch 0's frame", dash_duo)
    assert dash_duo.driver.execute_script(state)[2] == "x"  # the same graph: no new view, no new run
    assert get_json(server + "/health")["running_jobs"] == 0
    no_console_errors(dash_duo)
