"""What a user does with the mouse, at a 1366×768 window: clicks on plot points, Cancel, hand-offs
between pages, the map slider, and the action buttons in view without scrolling."""

from __future__ import annotations

import re
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from .conftest import get_json
from .test_browser import (
    annotations,
    click_plot,
    graph_title,
    js_click,
    no_console_errors,
    open_page,
    set_input,
    start_run,
    wait_until,
)

pytestmark = pytest.mark.system  # a real browser against the real app

LAPTOP = (1366, 768)


@pytest.fixture()
def laptop(dash_duo):
    dash_duo.driver.set_window_size(*LAPTOP)
    return dash_duo


def _in_view(dash_duo, selector: str) -> bool:
    return dash_duo.driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;",
        selector)


@pytest.mark.parametrize("path,selectors", [
    ("/oip", ["#oip-run", "#oip-cancel", "#oip-progress"]),
    ("/training", ["#train-start", "#train-cancel", "#train-progress"]),
    ("/insight", ["#insight-run", "#insight-cancel", "#insight-progress"]),
], ids=["oip", "training", "insight"])
def test_action_buttons_are_in_view_without_scrolling(laptop, server, path, selectors):
    open_page(laptop, server, path)
    laptop.wait_for_element(selectors[0], timeout=30)
    time.sleep(1)
    for sel in selectors:
        assert _in_view(laptop, sel), sel
    laptop.driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # results scroll; actions stay
    time.sleep(0.3)
    assert _in_view(laptop, selectors[0])
    no_console_errors(laptop)


def test_a_click_on_a_map_node_outlines_its_receptive_field(laptop, server):
    open_page(laptop, server, "/maps")
    wait_until(lambda: "Conv2D_1: 32 maps" in graph_title(laptop, "maps-grid"), 60, "the grid", laptop)
    click_plot(laptop, "maps-grid", 10, 12)  # map 0, node x=10 y=12
    wait_until(lambda: "map 0, node x=10 y=12" in laptop.find_element("#maps-rf-note").text, 20, "the note", laptop)
    shapes = laptop.driver.execute_script(
        "const g = document.querySelector('#maps-input .js-plotly-plot'); return g.layout.shapes || []")
    assert len(shapes) == 1 and shapes[0]["x0"] == 9.5 and shapes[0]["y0"] == 11.5  # 3×3 field of node (10, 12)
    assert "unhashable" not in laptop.find_element("body").text
    no_console_errors(laptop)


def _eventually(fn, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.5)
    return False


def test_cancelled_runs_say_what_they_kept(laptop, server):
    start_run(laptop, server, "/oip", "oip", {"#oip-steps input": 500, "#oip-seeds input": 4}, ["#oip-whole"])
    wait_until(lambda: graph_title(laptop, "oip-live").startswith("step"), 90, "a live frame", laptop)
    js_click(laptop, "#oip-cancel")
    laptop.wait_for_contains_text("#oip-message", "Stopped at step", timeout=30)
    assert "showing what was reached" in laptop.find_element("#oip-message").text
    assert "bg-warning" in laptop.find_element("#oip-progress .progress-bar").get_attribute("class")
    # training: Cancel in the second epoch keeps the first epoch's checkpoint
    open_page(laptop, server, "/training")
    laptop.wait_for_element("#train-start", timeout=30)
    for sel, value in (("#train-epochs", 3), ("#train-subset", 3000), ("#train-name", "cancelled-run")):
        set_input(laptop, sel, value)
    js_click(laptop, "#train-start")
    started = lambda: laptop.find_element("#train-progress").text.strip() or laptop.find_element("#train-message").text
    if not _eventually(started, 30):  # a click before Dash has wired the page's callbacks is lost: press again
        js_click(laptop, "#train-start")
    wait_until(lambda: "epoch 2/3" in laptop.find_element("#train-progress").text, 180, "epoch 2", laptop)
    js_click(laptop, "#train-cancel")
    laptop.wait_for_contains_text("#train-message", "Stopped", timeout=60)
    text = laptop.find_element("#train-message").text
    assert re.match(r"Stopped (in epoch 2/3; the checkpoint of epoch 1|after epoch 2/3; the checkpoint of epoch 2) is kept: "
                    r"press Start with the same name and settings to resume", text), text
    # a new run clears the old message at once
    set_input(laptop, "#train-epochs", 1)
    js_click(laptop, "#train-start")
    wait_until(lambda: "Stopped" not in laptop.find_element("#train-message").text, 5, "the old message to go", laptop)
    laptop.wait_for_contains_text("#train-message", "saved", timeout=240)
    no_console_errors(laptop)


def test_dense_confusion_cell_to_maps_keeps_the_image(laptop, server):
    open_page(laptop, server, "/dense")
    wait_until(lambda: "Confusion" in graph_title(laptop, "dense-confusion"), 240, "the confusion matrix", laptop)
    click_plot(laptop, "dense-confusion", "9", "4")  # true 4, predicted 9
    laptop.wait_for_contains_text("#dense-cell", "of class 4 predicted as 9", timeout=30)
    laptop.select_dcc_dropdown("#dense-pick", index=0)
    wait_until(lambda: "#" in laptop.find_element("#dense-pick").text, 10, "the picked image", laptop)
    index = int(laptop.find_element("#dense-pick").text.split("#")[1].split()[0])
    wait_until(lambda: f"test image {index}" in laptop.find_element("#dense-caption").text, 30, "the pick", laptop)
    js_click(laptop, ".navbar a.nav-link[href='/maps']")
    wait_until(lambda: f"test image {index} " in graph_title(laptop, "maps-grid"), 30, "the same image on Maps", laptop)
    time.sleep(2)  # and it stays (the index box must not overwrite it)
    assert f"test image {index} " in graph_title(laptop, "maps-grid")
    assert laptop.find_element("#maps-index").get_attribute("value") == str(index)
    no_console_errors(laptop)


def test_gallery_click_and_map_slider_scrub_a_whole_layer_result(laptop, server):
    start_run(laptop, server, "/oip", "oip", {"#oip-steps input": 20, "#oip-seeds input": 1}, ["#oip-whole"])
    laptop.wait_for_contains_text("#oip-message", "Done", timeout=120)
    wait_until(lambda: laptop.find_element("#oip-gallery").is_displayed(), 10, "the gallery", laptop)
    # a click on tile 10 (row 1, column 2 of an 8-wide grid of 28-px tiles with 2-px gaps) opens map 10
    click_plot(laptop, "oip-gallery", 2 * 30 + 14, 1 * 30 + 14)
    wait_until(lambda: any(t.startswith("map 10 ") for t in annotations(laptop, "oip-animation")), 20, "map 10",
               laptop)
    assert laptop.find_element("#oip-map").get_attribute("value") == "10"
    # dragging the map slider shows each map's OIP from the same result, within a second
    handle = laptop.find_element("#oip-map-slider [role='slider']")
    laptop.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
    before = annotations(laptop, "oip-animation")
    t0 = time.time()
    ActionChains(laptop.driver).click_and_hold(handle).move_by_offset(60, 0).release().perform()
    wait_until(lambda: annotations(laptop, "oip-animation") != before, 5, "another map's OIP", laptop)
    assert time.time() - t0 < 1.5
    shown = int(laptop.find_element("#oip-map").get_attribute("value"))
    assert shown > 10 and any(t.startswith(f"map {shown} ") for t in annotations(laptop, "oip-animation"))
    assert f"map {shown} of Conv2D_3" in laptop.find_element("#oip-scrub").text
    assert get_json(server + "/health")["running_jobs"] == 0  # no new run
    no_console_errors(laptop)
