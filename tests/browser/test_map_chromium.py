"""The HQ map in a real headless Chromium with no network (skipped when none is installed)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon

from mapping.overlay import north_up_overlay, thumbnail_with_boxes
from mapping.webmap import MapContent, PhotoView, write_map
from tests.browser import Chromium, find_chromium
from tests.mapping.test_webmap import LAT0, LON0, XSS_ATTR, XSS_SCRIPT, content, objects

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (set CHROMIUM=...)")

FIND_MAP = "Object.values(window).find(v => v instanceof L.Map)"


def hostile_photo() -> PhotoView:
    img = np.zeros((300, 400, 3), np.uint8)
    img[:] = (30, 140, 60)
    cv2.circle(img, (200, 150), 100, (220, 200, 40), -1)
    corners = np.array([[LON0 - 0.003, LAT0 + 0.002], [LON0 + 0.002, LAT0 + 0.003],
                        [LON0 + 0.003, LAT0 - 0.002], [LON0 - 0.002, LAT0 - 0.003]])
    thumb = thumbnail_with_boxes(img, np.array([[50, 50, 150, 120]]), [XSS_SCRIPT])
    return PhotoView(XSS_ATTR + XSS_SCRIPT, Polygon(corners), thumb,
                     north_up_overlay(img, corners, max_px=256))


def not_blank(png: bytes) -> float:
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return float(img.std())


def network_requests(b: Chromium) -> list[str]:
    local = ("file:", "data:", "blob:", "about:")
    return [u for u in b.requested_urls() if not u.startswith(local)]


def open_page(b: Chromium, path: Path) -> float:
    b.events.clear()
    return b.open(path.as_uri())


def test_offline_map_renders_toggles_and_never_runs_injected_markup(browser: Chromium,
                                                                    tmp_path: Path) -> None:
    c = content(40, title=XSS_SCRIPT + " Survey", name=XSS_ATTR)
    c = MapContent(c.title, c.objects, [hostile_photo()], c.routes, c.track, c.zones, c.area)
    page = tmp_path / f"map {XSS_ATTR[:2]}.html"
    write_map(c, page)
    open_page(browser, page)
    n_inputs = browser.wait_js("document.querySelectorAll('.leaflet-control-layers-selector')"
                               ".length")
    assert n_inputs >= 10
    time.sleep(0.5)
    assert not_blank(browser.screenshot_png()) > 15

    # toggle a severity layer off and on through the layer control
    toggle = """(() => {
        const label = [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
            .find(l => l.textContent.trim().startsWith(%r));
        label.querySelector('input').click();
        return document.querySelectorAll('path.dmg-destroyed').length;
    })()"""
    before = browser.js("document.querySelectorAll('path.dmg-destroyed').length")
    assert before == 10
    assert browser.js(toggle % "Destroyed") == 0
    assert browser.js(toggle % "Destroyed") == 10
    assert browser.js("document.querySelectorAll('path.photo-footprint').length") == 0
    assert browser.js(toggle % "Photo footprints") == 10
    assert browser.js("document.querySelectorAll('path.photo-footprint').length") == 1
    assert browser.js("document.querySelectorAll('.marker-cluster, path.dmg-centroid').length") > 0

    # open every popup and tooltip (their HTML is built on demand), the photo popup last
    browser.js(f"""(() => {{
        const map = {FIND_MAP};
        const groups = [];
        map.eachLayer(l => {{ if (l.getPopup && l.getPopup() && l.eachLayer) groups.push(l); }});
        const isPhotos = g => g.getLayers().some(f => f.feature.properties.popup);
        groups.sort((a, b) => isPhotos(a) - isPhotos(b));
        for (const g of groups) g.eachLayer(f => {{
            const at = {{latlng: f.getBounds().getCenter()}};
            f.fire('mouseover', at, true);
            f.fire('click', at, true);
        }});
        return groups.length;
    }})()""")
    time.sleep(0.3)
    popup = browser.js("document.querySelector('.leaflet-popup-content').textContent")
    assert XSS_ATTR + XSS_SCRIPT in popup  # shown as text
    assert browser.js("document.querySelector('.leaflet-popup-content img').src"
                      ".startsWith('data:image/jpeg')")
    assert browser.js("document.querySelector('.survey-legend h4').textContent") == (
        XSS_SCRIPT + " Survey")
    assert browser.js("document.title") == XSS_SCRIPT + " Survey"
    assert browser.js("typeof window.__pwned") == "undefined"
    assert browser.js("document.querySelectorAll('img[src=\"x\"]').length") == 0

    # Draw's export button turns the drawn shapes into a GeoJSON download
    href = browser.js("(() => { const a = document.getElementById('export'); a.click();"
                      " return a.getAttribute('href'); })()")
    assert href.startswith("data:text/json") and "FeatureCollection" in href

    assert not any(e.get("method") == "Page.javascriptDialogOpening" for e in browser.events)
    assert browser.console_errors() == []
    assert network_requests(browser) == []


@pytest.mark.slow
def test_ten_thousand_objects_render(browser: Chromium, tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    write_map(MapContent("big", objects(10_000, seed=5), [hostile_photo()]), page)
    load_s = open_page(browser, page)
    clusters = browser.wait_js("document.querySelectorAll('.marker-cluster').length", 60)
    assert 0 < clusters < 2000
    assert load_s < 60
    time.sleep(0.5)
    assert not_blank(browser.screenshot_png()) > 15
    # polygons are on a canvas at this size; the layer control still lists every layer
    assert browser.js("document.querySelectorAll('canvas.leaflet-zoom-animated').length") >= 1
    assert browser.js("document.querySelectorAll('.leaflet-control-layers-selector').length") >= 7
    assert browser.console_errors() == []
    assert network_requests(browser) == []


def test_building_footprints_by_grade_and_not_seen_grey(browser: Chromium, tmp_path: Path
                                                        ) -> None:
    from mapping.webmap import DamageObject
    from survey.core.damage import DamageClass

    d = 0.0002
    graded = [DamageObject(i + 1, Polygon([(LON0 + i * d, LAT0), (LON0 + i * d + d / 2, LAT0),
                                           (LON0 + i * d + d / 2, LAT0 + d / 2),
                                           (LON0 + i * d, LAT0 + d / 2)]),
                           grade, 0.8, 120.0, ("DJI_0001.JPG",),
                           f"id B{i}; address: {XSS_ATTR}{XSS_SCRIPT}")
              for i, grade in enumerate(sorted(DamageClass, reverse=True))]
    unseen = [(Polygon([(LON0 + i * d, LAT0 - d), (LON0 + i * d + d / 2, LAT0 - d),
                        (LON0 + i * d + d / 2, LAT0 - d / 2), (LON0 + i * d, LAT0 - d / 2)]),
               f"id U{i}; name: {XSS_SCRIPT}") for i in range(3)]
    page = tmp_path / "buildings.html"
    write_map(MapContent("Footprints", graded, [hostile_photo()], not_seen=unseen), page)
    open_page(browser, page)
    browser.wait_js("document.querySelectorAll('.leaflet-control-layers-selector').length")
    assert browser.js("document.querySelectorAll('path.dmg-not-seen').length") == 3
    assert browser.js("getComputedStyle(document.querySelector('path.dmg-not-seen'))"
                      ".stroke") == "rgb(158, 158, 158)"
    toggle = """(() => {
        const label = [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
            .find(l => l.textContent.trim().startsWith('Not seen'));
        label.querySelector('input').click();
        return document.querySelectorAll('path.dmg-not-seen').length;
    })()"""
    assert browser.js(toggle) == 0 and browser.js(toggle) == 3
    legend = browser.js("document.querySelector('.survey-legend').textContent")
    assert "Not seen" in legend and "7" in legend  # 4 graded + 3 not seen
    groups = f"""(() => {{
        const map = {FIND_MAP};
        const groups = [];
        map.eachLayer(l => {{ if (l.getPopup && l.getPopup() && l.eachLayer) groups.push(l); }});
        return groups;
    }})()"""
    texts = []
    for i in range(browser.js(groups + ".length")):
        browser.js(f"(() => {{ const f = {groups}[{i}].getLayers()[0];"
                   " f.fire('click', {latlng: f.getBounds().getCenter()}, true); })()")
        time.sleep(0.2)
        texts.append(browser.js("document.querySelector('.leaflet-popup-content')"
                                ".textContent"))
    assert any("id U0" in t and "not seen" in t and XSS_SCRIPT in t for t in texts), texts
    assert any("id B0" in t and XSS_ATTR + XSS_SCRIPT in t for t in texts), texts
    assert browser.js("typeof window.__pwned") == "undefined"
    assert browser.console_errors() == []
    assert network_requests(browser) == []
