"""The review panel of ``survey map --review``: HQ checks the AI's grades in the offline map.

A side panel added to the map's HTML (:func:`with_review_panel`), still one file that fetches
nothing: its script and style are inlined from ``mapping/assets/review/`` and the queue
(:func:`mapping.review_queue.review_items`, crops as ``data:`` URIs) is a JSON block in the page.

In the page: the queue in priority order with "K of N reviewed"; the current item's crops side
by side, its model grade and probabilities; keys 1–4 intact / minor / major / destroyed, 0 or X
not a building, Enter or C the model's grade, N a note, ↓/J next and ↑/K previous (also →/←);
a click on an item pans the map to it. The reviewer's name is asked once (kept in the browser).
Every review is saved in the browser's ``localStorage`` under the survey's key
(:func:`mapping.review_queue.survey_key`) as it is made, so a reload loses nothing; "Export
review.geojson" downloads them in :mod:`mapping.reviews`' format. Reviews already in the store
show as reviewed. Reviewed items get a ring in the reviewed grade's colour on the map.

Escaping: the data goes in as JSON with ``<``, ``>``, ``&`` and ``'`` as ``\\u`` escapes (it
cannot end its ``<script>``), and the script puts every text from files (names, ids, notes)
into the page with ``textContent``, never as HTML.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from mapping.review_queue import ReviewItem, review_items, survey_key
from mapping.reviews import GRADES, NOT_BUILDING
from mapping.store import Store
from mapping.webmap import NOT_SEEN_COLOUR, SEVERITY_COLOURS

ASSETS = Path(__file__).with_name("assets") / "review"
NOT_BUILDING_COLOUR = "#5c3c92"
"""Ring of an object reviewed as not a building."""


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON safe inside ``<script>`` (as Jinja's ``tojson``).

    >>> script_json({"a": "</script><b>'&"})
    '{"a": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0027\\\\u0026"}'
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _item_json(rank: int, item: ReviewItem) -> dict[str, Any]:
    r = item.review
    return {
        "rank": rank, "target": item.target, "kind": item.kind, "label": item.label,
        "lon": round(item.lon, 7), "lat": round(item.lat, 7),
        "model": item.model_grade, "confidence": round(item.confidence, 3),
        "p": {g: round(item.probabilities.get(g, 0.0), 3) for g in GRADES},
        "psource": item.probability_source,
        "needs": item.needs_review, "why": item.why, "priority": round(item.priority, 4),
        "details": item.details,
        "views": [{"photo": v.photo, "grade": v.grade, "score": round(v.score, 3),
                   "crop": v.crop} for v in item.views],
        "stored": None if r is None else {"grade": r.grade, "reviewer": r.reviewer,
                                          "time": r.time, "note": r.note},
    }


def panel_data(store: Store, items: list[ReviewItem] | None = None) -> dict[str, Any]:
    """What the panel's script reads: the survey key, grades, colours and the queue."""
    items = review_items(store) if items is None else items
    colours = {c.label: SEVERITY_COLOURS[c] for c in SEVERITY_COLOURS}
    colours[NOT_BUILDING] = NOT_BUILDING_COLOUR
    return {"survey": survey_key(store, items), "grades": list(GRADES), "colours": colours,
            "unknown_colour": NOT_SEEN_COLOUR,
            "items": [_item_json(n, i) for n, i in enumerate(items, start=1)]}


def panel_html(data: dict[str, Any]) -> str:
    """The panel's style, data and script (to go at the end of the map's ``<body>``)."""
    css = _asset("review.css").replace("</style", "<\\/style")
    js = _asset("review.js").replace("</script", "<\\/script")
    return (f"<style>/* review panel */\n{css}\n</style>\n"
            f'<script type="application/json" id="survey-review-data">{script_json(data)}'
            f"</script>\n<script>/* review panel */\n{js}\n</script>\n")


def with_review_panel(page: str, store: Store) -> str:
    """The map's HTML ``page`` with the review panel of ``store``'s survey added."""
    block = panel_html(panel_data(store))
    at = page.rfind("</html>")
    if at < 0:
        return page + block
    return page[:at] + block + page[at:]
