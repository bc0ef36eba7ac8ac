"""The unit page in Chromium against the real app: a map, a dense unit and a class of the default model and of
the imported colour model; previous/next; links from Maps and the lab; the card it downloads, opened offline."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest

from .test_browser import click_plot, js_click, no_console_errors, open_page, wait_until
from .test_foreign_browser import no_alerts

pytestmark = pytest.mark.system  # a real browser against the real app


def facts(dash_duo) -> dict[str, str]:
    rows = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#unit-facts tr')].map(r => [r.cells[0].innerText, r.cells[1].innerText])")
    return dict(rows)


def shown(dash_duo, title: str, timeout: float = 180) -> dict[str, str]:
    """Waits for the unit page to show ``title``'s dossier with every panel filled; returns its facts."""
    wait_until(lambda: title in (dash_duo.driver.execute_script(
        "const t = document.getElementById('unit-title'); return t ? t.innerText : ''") or ""), timeout,
        f"the dossier of {title}", dash_duo)
    images = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#unit-result img')].map(i => i.complete && i.naturalWidth > 0)")
    assert len(images) >= 5 and all(images), images
    wait_until(lambda: dash_duo.find_elements("#unit-selectivity .bar, #unit-selectivity .barlayer"), 30,
               "the class selectivity chart", dash_duo)
    found = facts(dash_duo)
    assert {"Reproducibility", "Strongest test image", "Most selective class", "Receptive field"} <= set(found)
    no_alerts(dash_duo)
    return found


def test_unit_pages_of_the_default_model(dash_duo, server):
    open_page(dash_duo, server, "/unit?layer=Conv2D_3&map=13")
    first = shown(dash_duo, "Conv2D_3 map 13")
    assert first["Receptive field"].startswith("18×18 pixels")
    js_click(dash_duo, "#unit-next")
    shown(dash_duo, "Conv2D_3 map 14")
    js_click(dash_duo, "#unit-prev")
    again = shown(dash_duo, "Conv2D_3 map 13", timeout=30)  # cached: at once
    assert again == first
    open_page(dash_duo, server, "/unit?layer=Dense_1&unit=5")
    assert "Dead at start, λ=4" in shown(dash_duo, "Dense_1 unit 5")
    open_page(dash_duo, server, "/unit?model=default&layer=Dense_2&class=3")
    cls = shown(dash_duo, "Dense_2 class 3")
    assert cls["Receptive field"] == "the whole image" and cls["Top 100 test images"].endswith("class 3")
    no_console_errors(dash_duo)


def test_the_card_says_what_the_page_says_and_opens_offline(dash_duo, server):
    open_page(dash_duo, server, "/unit?layer=Conv2D_3&map=13")
    page_facts = shown(dash_duo, "Conv2D_3 map 13")
    folder = Path(dash_duo.download_path)
    js_click(dash_duo, "#unit-card")
    card = wait_until(lambda: next(iter(folder.glob("cnnviz-default-Conv2D_3-13.html")), None), 30, "the card")
    time.sleep(0.5)
    text = card.read_text()
    assert len(text.encode()) <= 2_000_000
    card_facts = {html.unescape(a): html.unescape(b) for a, b in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", text)}
    assert card_facts == page_facts
    assert "/unit?model=default&amp;layer=Conv2D_3&amp;map=13" in text
    driver = dash_duo.driver
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    try:
        driver.get(card.as_uri())
        wait_until(lambda: driver.execute_script("return document.readyState") == "complete", 30, "the card")
        loaded = driver.execute_script("return [...document.images].map(i => i.complete && i.naturalWidth > 0)")
        assert len(loaded) >= 6 and all(loaded), loaded
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))")
        assert fetched == [], fetched
        assert "Conv2D_3 map 13" in driver.find_element("tag name", "h1").text
    finally:
        driver.delete_network_conditions()


def test_links_from_maps_and_the_lab_arrive_on_their_unit(dash_duo, server):
    open_page(dash_duo, server, "/maps")
    link = wait_until(lambda: "map 0" in (dash_duo.find_element("#maps-unit-link").text or "") and
                      dash_duo.find_element("#maps-unit-link"), 60, "the Maps page's unit link", dash_duo)
    assert "layer=Conv2D_1" in link.get_attribute("href") and "map=0" in link.get_attribute("href")
    dash_duo.driver.execute_script("arguments[0].click()", link)
    shown(dash_duo, "Conv2D_1 map 0")
    open_page(dash_duo, server, "/oip?layer=Conv2D_3&map=5")
    link = wait_until(lambda: "map=5" in (dash_duo.find_element("#oip-unit-link").get_attribute("href") or "") and
                      dash_duo.find_element("#oip-unit-link"), 60, "the lab's unit link", dash_duo)
    dash_duo.driver.execute_script("arguments[0].click()", link)
    shown(dash_duo, "Conv2D_3 map 5")
    no_console_errors(dash_duo)


def test_unit_pages_of_an_imported_colour_model(dash_duo, foreign_server, foreign):
    m = foreign["rgb"]
    for query, title in [("layer=conv_b&map=2", "conv_b map 2"), ("layer=hidden&unit=3", "hidden unit 3"),
                         (f"layer={m.output_layer}&class=1", f"{m.output_layer} class")]:
        open_page(dash_duo, foreign_server, f"/unit?model=rgb&{query}")
        found = shown(dash_duo, title)
        assert found["Mean on the test set"].endswith("over 200 images")  # the colour data set's test images
    no_console_errors(dash_duo)


def test_the_dashboard_builds_the_atlas_as_a_zip(dash_duo, foreign_server):
    import zipfile

    open_page(dash_duo, foreign_server, "/unit?model=rgb&layer=conv_a&map=0")
    shown(dash_duo, "conv_a map 0")
    js_click(dash_duo, "#unit-atlas")
    folder = Path(dash_duo.download_path)
    got = wait_until(lambda: next(iter(folder.glob("atlas-rgb.zip")), None), 300, "the atlas zip", dash_duo)
    time.sleep(1)
    with zipfile.ZipFile(got) as z:
        names = z.namelist()
        index = z.read("atlas-rgb/index.html").decode()
    pages = [n for n in names if n.startswith("atlas-rgb/units/")]
    assert len(pages) == len(re.findall(r'<a href="units/', index)) > 0
    assert all(f"atlas-rgb/{h}" in names for h in re.findall(r'<a href="(units/[^"]+)"', index))
    dash_duo.wait_for_contains_text("#unit-atlas-message", f"{len(pages)} unit pages", timeout=30)
    no_console_errors(dash_duo)


def follow(dash_duo, selector: str, timeout: float = 60) -> str:
    """Clicks the link ``selector`` once it names a unit page; returns its href."""
    def ready():
        found = dash_duo.find_elements(selector)
        return found[0] if found and "/unit?" in (found[0].get_attribute("href") or "") else None

    link = wait_until(ready, timeout, f"the link {selector}", dash_duo)
    href = link.get_attribute("href")
    dash_duo.driver.execute_script("arguments[0].click()", link)
    return href


def test_links_from_insight_dense_and_model_arrive_on_their_unit(dash_duo, server):
    open_page(dash_duo, server, "/insight?analysis=exemplars&layer=Conv2D_3&map=7&run=1")
    follow(dash_duo, "#insight-unit-link", timeout=180)
    shown(dash_duo, "Conv2D_3 map 7")
    open_page(dash_duo, server, "/dense")
    dash_duo.wait_for_contains_text("#dense-pattern", "mean of true class", timeout=120)  # the figure, not "loading…"
    time.sleep(1)
    click_plot(dash_duo, "dense-pattern", 4, 0)
    href = follow(dash_duo, "#dense-unit-link")
    node = int(re.search(r"unit=(\d+)", href).group(1))
    shown(dash_duo, f"Dense_1 unit {node}")
    open_page(dash_duo, server, "/")
    link = wait_until(lambda: [a for a in dash_duo.find_elements("#model-table a")
                               if "layer=Conv2D_2" in (a.get_attribute("href") or "")], 60, "the layer's link", dash_duo)
    dash_duo.driver.execute_script("arguments[0].click()", link[0])
    shown(dash_duo, "Conv2D_2 map 0")
    no_console_errors(dash_duo)
