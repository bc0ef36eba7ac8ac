"""Every page in Chromium with each foreign model selected: no alert, no console error, the model's own layers."""

from __future__ import annotations

import time

import pytest

from .conftest import get_json
from .test_browser import PAGES, graph_title, no_console_errors, open_page, wait_until

pytestmark = pytest.mark.system  # a real browser against the real app

FIRST_MAP = {"byo": "c1", "residual": "stem", "rgb": "conv_a"}
LAST_MAP = {"byo": "c3", "residual": "strided", "rgb": "conv_b"}


def choose_model(dash_duo, name):
    dash_duo.wait_for_contains_text("#shell-model", "default", timeout=30)
    dash_duo.select_dcc_dropdown("#shell-model", value=name)
    dash_duo.wait_for_contains_text("#shell-model", name, timeout=30)


def no_alerts(dash_duo):
    shown = [e.text for e in dash_duo.find_elements(".alert-danger")]
    assert shown == [], shown
    assert dash_duo.find_elements(".dash-fe-error__title") == []


def slider_marks(dash_duo, slider_id):
    return dash_duo.driver.execute_script(
        f"return [...document.querySelectorAll('#{slider_id} .dash-slider-mark, #{slider_id} .rc-slider-mark-text')]"
        ".map(e => e.textContent)")


@pytest.mark.parametrize("name", ["byo", "residual", "rgb"])
def test_every_page_with_a_foreign_model(dash_duo, foreign_server, foreign, name):
    m = foreign[name]
    for path, text in PAGES:
        open_page(dash_duo, foreign_server, path)
        dash_duo.wait_for_contains_text("body", text, timeout=30)
        choose_model(dash_duo, name)
        if path == "/":
            dash_duo.wait_for_contains_text("#model-table", LAST_MAP[name], timeout=30)
            dash_duo.wait_for_contains_text("#model-meta", "imported from", timeout=30)
        elif path == "/maps":
            wait_until(lambda: graph_title(dash_duo, "maps-grid").startswith(f"{FIRST_MAP[name]}:"), 60,
                       "the first layer's grid", dash_duo)
            assert FIRST_MAP[name].replace("_", " ") in slider_marks(dash_duo, "maps-layer")
            wait_until(lambda: "for class" in graph_title(dash_duo, "maps-why"), 60, "the attribution", dash_duo)
            assert "Grad-CAM" in graph_title(dash_duo, "maps-why")
        elif path == "/dense":
            if m.dense_layers:
                wait_until(lambda: "Mean" in graph_title(dash_duo, "dense-means"), 120, "the class means", dash_duo)
                dash_duo.wait_for_contains_text("#dense-layer", m.dense_layers[-1], timeout=30)
            else:
                dash_duo.wait_for_contains_text("#dense-message", "no hidden dense layer", timeout=60)
        elif path == "/oip":
            wait_until(lambda: LAST_MAP[name].replace("_", " ") in slider_marks(dash_duo, "oip-layer"), 30,
                       "the model's layers on the slider", dash_duo)
            assert m.output_layer.replace("_", " ") in slider_marks(dash_duo, "oip-layer")
        elif path == "/insight":
            dash_duo.wait_for_contains_text("#insight-layer", LAST_MAP[name], timeout=30)
        time.sleep(1.5)  # the page's callbacks settle
        no_alerts(dash_duo)
        no_console_errors(dash_duo)


def test_oip_of_a_colour_model_class(dash_duo, foreign_server):
    """A run on the output layer of the colour model: classes, in colour, through the real job path."""
    from .test_browser import click_slider_mark, js_click

    open_page(dash_duo, foreign_server, "/oip")
    choose_model(dash_duo, "rgb")
    wait_until(lambda: "classes" in slider_marks(dash_duo, "oip-layer"), 30, "the layer slider", dash_duo)
    click_slider_mark(dash_duo, "oip-layer", "classes")
    dash_duo.wait_for_contains_text("#oip-links", "dense layer's units and the classes", timeout=30)
    js_click(dash_duo, "#oip-run")
    dash_duo.wait_for_contains_text("#oip-message", "Done", timeout=180)
    wait_until(lambda: dash_duo.driver.execute_script("return !!document.querySelector('#oip-animation .js-plotly-plot')"),
               30, "the animation", dash_duo)
    kinds = dash_duo.driver.execute_script(
        "const g = document.querySelector('#oip-animation .js-plotly-plot'); return g.data.map(t => t.type)")
    assert kinds[0] == "image"  # colour OIPs are shown in colour
    assert "class red" in dash_duo.find_element("#oip-result").text  # the class by its name
    no_alerts(dash_duo)
    no_console_errors(dash_duo)


def test_a_model_without_metadata_is_listed_greyed_out(dash_duo, foreign_server):
    open_page(dash_duo, foreign_server, "/")
    dash_duo.wait_for_contains_text("#shell-model", "default", timeout=30)
    dash_duo.find_element("#shell-model").click()
    wait_until(lambda: "mine (not imported)" in dash_duo.driver.find_element("tag name", "body").text, 10,
               "the greyed-out entry", dash_duo)
    title = dash_duo.driver.execute_script(
        "const s = [...document.querySelectorAll('span[title]')].find(e => e.textContent.includes('mine'));"
        "return s && s.title")
    assert title and "python -m cnnviz import" in title and "mine.keras" in title
    assert "mine" not in get_json(foreign_server + "/health")["models"]


def switch_model(dash_duo, name):
    dash_duo.select_dcc_dropdown("#shell-model", value=name)
    dash_duo.wait_for_contains_text("#shell-model", name, timeout=30)


def _result_text(dash_duo) -> str:
    return dash_duo.find_element("#oip-result").text


def test_a_result_is_shown_only_under_its_own_controls(dash_duo, foreign_server):
    """Switch model, map and page: the lab and Insight show a result only while the controls ask for it, offer
    the last one explicitly, and hand-offs arrive on the right result."""
    from .test_browser import js_click, set_input

    dash_duo.driver.set_window_size(1366, 768)
    open_page(dash_duo, foreign_server, "/oip")
    choose_model(dash_duo, "rgb")
    wait_until(lambda: "conv b" in slider_marks(dash_duo, "oip-layer"), 30, "rgb's layers", dash_duo)
    set_input(dash_duo, "#oip-steps input", 20)
    set_input(dash_duo, "#oip-seeds input", 1)
    time.sleep(0.5)
    js_click(dash_duo, "#oip-run")
    wait_until(lambda: "Shown: rgb · conv_b map 0" in _result_text(dash_duo), 120, "rgb's result", dash_duo)
    # another model: its controls ask for something never computed, so nothing of rgb's is shown
    switch_model(dash_duo, "default")
    wait_until(lambda: "Nothing computed for these settings yet" in _result_text(dash_duo), 30, "the prompt", dash_duo)
    assert "Your last search: rgb · conv_b map 0" in _result_text(dash_duo)
    assert dash_duo.find_element("#oip-gif").get_attribute("disabled") and not dash_duo.find_elements("#oip-animation")
    # a link to another map of the default model: the controls say it, and so does the page
    open_page(dash_duo, foreign_server, "/oip?layer=Conv2D_3&map=13")
    wait_until(lambda: "press Run to compute Conv2D_3 map 13" in _result_text(dash_duo), 30, "map 13's prompt", dash_duo)
    assert dash_duo.find_element("#oip-map").get_attribute("value") == "13"
    # "show it" brings the last result back, with its model and controls
    js_click(dash_duo, "#oip-show-last")
    wait_until(lambda: "Shown: rgb · conv_b map 0" in _result_text(dash_duo), 30, "rgb's result again", dash_duo)
    dash_duo.wait_for_contains_text("#shell-model", "rgb", timeout=10)
    assert dash_duo.find_element("#oip-map").get_attribute("value") == "0"
    # Insight → the lab: the hand-off sets the controls and shows (here: runs) the matching result
    switch_model(dash_duo, "default")
    open_page(dash_duo, foreign_server, "/insight?analysis=exemplars&layer=Conv2D_3&map=25")
    dash_duo.wait_for_element("#insight-run", timeout=30)
    set_input(dash_duo, "#insight-steps input", 20)
    set_input(dash_duo, "#insight-seeds input", 1)
    time.sleep(0.5)
    js_click(dash_duo, "#insight-run")
    wait_until(lambda: "Conv2D_3 map 25: the OIP reaches" in dash_duo.find_element("#insight-result").text, 120,
               "the exemplars of map 25", dash_duo)
    js_click(dash_duo, "#insight-lab-link")
    wait_until(lambda: "Shown: default · Conv2D_3 map 25" in _result_text(dash_duo), 120, "map 25 in the lab", dash_duo)
    assert dash_duo.find_element("#oip-map").get_attribute("value") == "25"
    # back on Insight: the controls are those of the last analysis, and its result matches them
    js_click(dash_duo, ".navbar a.nav-link[href='/insight']")
    wait_until(lambda: "Conv2D_3 map 25: the OIP reaches" in dash_duo.find_element("#insight-result").text, 30,
               "the exemplars again", dash_duo)
    assert dash_duo.find_element("#insight-map").get_attribute("value") == "25"
    no_alerts(dash_duo)
    no_console_errors(dash_duo)


def test_the_test_image_follows_the_model(dash_duo, foreign_server):
    """An index beyond the new model's test set is moved to its last image, with a note; a class average leaves
    the chosen image alone."""
    from .test_browser import js_click, set_input

    open_page(dash_duo, foreign_server, "/maps")
    wait_until(lambda: "maps" in graph_title(dash_duo, "maps-grid"), 60, "the grid", dash_duo)
    set_input(dash_duo, "#maps-index", 2130)
    wait_until(lambda: "test image 2130" in graph_title(dash_duo, "maps-grid"), 30, "image 2130", dash_duo)
    switch_model(dash_duo, "rgb")  # 200 test images
    wait_until(lambda: "test image 199" in graph_title(dash_duo, "maps-grid"), 60, "the last rgb image", dash_duo)
    assert "Test image 2130 does not exist in this model (0..199): 199 is shown instead" in \
        dash_duo.find_element("#maps-model-note").text
    assert dash_duo.find_element("#maps-index").get_attribute("value") == "199"
    assert "Image index must be" not in dash_duo.find_element("body").text
    js_click(dash_duo, "#maps-mode input[value='average']")
    dash_duo.select_dcc_dropdown("#maps-class", value="green")
    wait_until(lambda: "mean over class green" in graph_title(dash_duo, "maps-grid"), 120, "the class average",
               dash_duo)
    assert dash_duo.find_element("#maps-index").get_attribute("value") == "199"  # the class did not move it
    no_alerts(dash_duo)
    no_console_errors(dash_duo)
