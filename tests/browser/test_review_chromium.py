"""`survey map --review` in a real headless Chromium with no network: keys through the queue,
a reload mid-way, the review.geojson download, and applying it to the survey."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mapping.mapview import write_survey_map
from mapping.reviews import apply_reviews, read_reviews
from mapping.store import open_store
from mapping.webmap import find_remote_references
from survey.pipelines.analyze import AnalyzeConfig, analyze
from tests.browser import Chromium, find_chromium
from tests.mapping.conftest import ColourModel, synthetic_survey
from tests.mapping.test_webmap import XSS_ATTR, XSS_SCRIPT

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (set CHROMIUM=...)")

# key → (code, Windows virtual key code, text)
_KEYS: dict[str, tuple[str, int, str]] = {
    "Enter": ("Enter", 13, "\r"), "Escape": ("Escape", 27, ""),
    "ArrowDown": ("ArrowDown", 40, ""), "ArrowUp": ("ArrowUp", 38, ""),
    **{d: (f"Digit{d}", 48 + int(d), d) for d in "01234"},
    **{c: (f"Key{c.upper()}", ord(c.upper()), c) for c in "cjknx"},
}


def press(b: Chromium, key: str) -> None:
    code, vk, text = _KEYS[key]
    down: dict[str, Any] = {"type": "keyDown", "key": key, "code": code,
                            "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
    if text:
        down["text"] = text
    b.send("Input.dispatchKeyEvent", down)
    b.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "code": code,
                                      "windowsVirtualKeyCode": vk})


def type_text(b: Chromium, text: str) -> None:
    b.send("Input.insertText", {"text": text})


def progress(b: Chromium) -> str:
    return b.js("document.querySelector('#survey-review .rv-progress').textContent")


def cursor(b: Chromium) -> int:
    return b.js("window.surveyReview.state().cursor")


def open_page(b: Chromium, page: Path) -> None:
    b.events.clear()
    b.open(page.as_uri())
    assert b.wait_js("window.surveyReview && document.querySelectorAll("
                     "'#survey-review-list li').length", 20)


def test_review_queue_keys_reload_export_apply(browser: Chromium, tmp_path: Path) -> None:
    t0 = time.monotonic()
    names = [f"{XSS_ATTR}{i}.JPG" if i == 1 else f"DJI_{i:04d}.JPG" for i in range(1, 6)]
    s = synthetic_survey(tmp_path / "photos", names=names)
    out = tmp_path / "survey"
    analyze(AnalyzeConfig(photos=s.photos, out_dir=out, model=ColourModel(),  # type: ignore
                          weights="fake.pt", refine=False))
    page = tmp_path / "review map.html"
    with open_store(out) as store:
        n_objects = len(store.objects())
        write_survey_map(store, page, title=XSS_SCRIPT + " survey", review=True)
    assert n_objects == 4
    html = page.read_text(encoding="utf-8")
    assert find_remote_references(html) == []
    assert XSS_ATTR not in html and "<script>window.__pwned" not in html

    open_page(browser, page)
    assert progress(browser).startswith(f"0 of {n_objects} reviewed")
    order = browser.js("[...document.querySelectorAll('#survey-review-list li')]"
                       ".map(li => li.dataset.target)")
    assert len(order) == n_objects
    # the current item shows every view's crop, side by side
    n_views = browser.js("document.querySelectorAll('#survey-review .rv-crops figure').length")
    crops = browser.js("[...document.querySelectorAll('#survey-review img.rv-crop')]"
                       ".filter(i => i.naturalWidth > 0 && i.src.startsWith('data:image/jpeg'))"
                       ".length")
    assert n_views >= 2 and crops == n_views
    assert XSS_ATTR in browser.js("document.querySelector('#survey-review .rv-list')"
                                  ".parentNode.textContent")  # a photo name, shown as text

    press(browser, "1")  # no name yet: asked for it, nothing recorded
    assert browser.js("document.activeElement.id") == "survey-review-name"
    assert browser.js("Object.keys(window.surveyReview.state().reviews).length") == 0
    type_text(browser, "Sato " + XSS_SCRIPT)
    press(browser, "Enter")  # leaves the field; the name is kept
    assert browser.js("document.activeElement.id") != "survey-review-name"

    model = browser.js("document.querySelectorAll('#survey-review-list li')[0].dataset.model")
    press(browser, "Enter")  # confirm the AI's grade of item 1, on to item 2
    assert cursor(browser) == 1
    press(browser, "n")
    assert browser.js("document.activeElement.id") == "survey-review-note"
    type_text(browser, "roof <b>gone</b> " + XSS_ATTR)
    press(browser, "Escape")
    press(browser, "3")  # item 2: major, with the note
    press(browser, "x")  # item 3: not a building
    assert progress(browser).startswith(f"3 of {n_objects} reviewed")
    assert cursor(browser) == 3
    press(browser, "ArrowUp")
    press(browser, "ArrowUp")
    assert cursor(browser) == 1
    press(browser, "4")  # item 2 again: destroyed after all (the note stays)
    assert cursor(browser) == 3  # on to the one left

    # a reload loses nothing
    browser.js("window.__old_page = 1")
    since = len(browser.events)
    browser.send("Page.reload")
    browser.wait_event("Page.loadEventFired", since)
    assert browser.js("typeof window.__old_page") == "undefined"
    assert browser.wait_js("!!(window.surveyReview && document.querySelector('.rv-progress'))",
                           20)
    browser.screenshot_png()
    assert progress(browser).startswith(f"3 of {n_objects} reviewed")
    assert cursor(browser) == 3
    assert browser.js("document.getElementById('survey-review-name').value") == (
        "Sato " + XSS_SCRIPT)
    assert browser.js("document.querySelectorAll('path.review-ring').length") == 3

    # a click on an item pans the map to it
    with open_store(out) as store:
        first = store.objects()[int(order[0].split(":")[1]) - 1]
    browser.js("document.querySelectorAll('#survey-review-list li')[0].click()")
    near = (f"(() => {{ const m = Object.values(window).find(v => v instanceof L.Map);"
            f" const c = m.getCenter(); return Math.abs(c.lng - {first.lon}) < 2e-5 &&"
            f" Math.abs(c.lat - {first.lat}) < 2e-5 && m.getZoom() >= 19; }})()")
    assert browser.wait_js(near, 5), browser.js(
        "(() => { const m = Object.values(window).find(v => v instanceof L.Map);"
        " return [m.getCenter(), m.getZoom(), m.getSize(), window.surveyReview.state().cursor]"
        " })()")

    # the export button downloads review.geojson
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.send("Browser.setDownloadBehavior",
                 {"behavior": "allow", "downloadPath": str(downloads)}, session=None)
    browser.js("document.getElementById('survey-review-export').click()")
    file = downloads / "review.geojson"
    deadline = time.monotonic() + 10
    while not file.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert file.is_file(), list(downloads.iterdir())
    text = file.read_text(encoding="utf-8")
    assert text == browser.js("window.surveyReview.exportText()")
    assert browser.js("fetch(window.surveyReview.lastExportUrl).then(r => r.text())") == text
    doc = json.loads(text)
    assert len(doc["features"]) == 3

    reviews = read_reviews(file)
    with open_store(out) as store:
        summary = apply_reviews(store, reviews)
        stored = store.reviews()
    assert (summary.added, summary.unknown) == (3, [])
    assert {t: r.grade for t, r in stored.items()} == {
        order[0]: model, order[1]: "destroyed",
        order[2]: "not_building"}
    assert {r.reviewer for r in stored.values()} == {"Sato " + XSS_SCRIPT}
    assert stored[order[1]].note == "roof <b>gone</b> " + XSS_ATTR
    assert all(r.time[-6] in "+-" for r in stored.values())  # local time with its offset

    # the map written again shows the store's reviews as reviewed (browser storage cleared)
    browser.js("localStorage.clear()")
    with open_store(out) as store:
        write_survey_map(store, page, title="again", review=True)
    open_page(browser, page)
    assert progress(browser).startswith(f"3 of {n_objects} reviewed")
    assert browser.js("document.querySelectorAll('#survey-review-list li.done').length") == 3

    assert browser.js("typeof window.__pwned") == "undefined"
    assert browser.js("document.querySelectorAll('img[src=\"x\"], #survey-review b').length") == 0
    assert not any(e.get("method") == "Page.javascriptDialogOpening" for e in browser.events)
    assert browser.console_errors() == []
    local = ("file:", "data:", "blob:", "about:")
    assert [u for u in browser.requested_urls() if not u.startswith(local)] == []
    assert time.monotonic() - t0 < 30
