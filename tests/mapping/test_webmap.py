"""The HQ damage map HTML: layers, offline self-containment, escaping, scale."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from shapely import affinity
from shapely.geometry import LineString, Polygon, box

from mapping.overlay import north_up_overlay, thumbnail_with_boxes
from mapping.webmap import (
    DamageObject,
    MapContent,
    Overlay,
    PhotoView,
    build_map,
    find_remote_references,
    write_map,
)
from survey.core.damage import DamageClass
from survey.core.errors import InputError

LON0, LAT0 = 26.1, 44.43
XSS_SCRIPT = "<script>window.__pwned=1</script>"
XSS_ATTR = '"><img src=x onerror=window.__pwned=2>'


def objects(n: int, seed: int = 0, photo: str = "DJI_0001.JPG") -> list[DamageObject]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cx, cy = LON0 + rng.uniform(-0.004, 0.004), LAT0 + rng.uniform(-0.003, 0.003)
        poly = affinity.rotate(box(cx - 8e-5, cy - 5e-5, cx + 8e-5, cy + 5e-5), rng.uniform(0, 90))
        out.append(DamageObject(i, poly, DamageClass(i % 4), float(rng.uniform(0.3, 1)),
                                float(rng.uniform(50, 400)), (photo,)))
    return out


def photo(name: str = "DJI_0001.JPG", label: str = "major 0.91") -> PhotoView:
    img = np.zeros((300, 400, 3), np.uint8)
    img[:, :200] = (40, 160, 40)
    img[:, 200:] = (200, 120, 30)
    corners = np.array([[LON0 - 0.003, LAT0 + 0.002], [LON0 + 0.002, LAT0 + 0.003],
                        [LON0 + 0.003, LAT0 - 0.002], [LON0 - 0.002, LAT0 - 0.003]])
    return PhotoView(name, Polygon(corners),
                     thumbnail_with_boxes(img, np.array([[50, 50, 150, 120]]), [label]),
                     north_up_overlay(img, corners, max_px=256))


def content(n: int = 40, *, title: str = "Survey 7", name: str = "DJI_0001.JPG") -> MapContent:
    return MapContent(
        title=title,
        objects=objects(n, photo=name),
        photos=[photo(name)],
        routes=[LineString([(LON0 - 0.004, LAT0), (LON0 + 0.004, LAT0)])],
        track=[LineString([(LON0 - 0.004, LAT0 + 1e-4), (LON0 + 0.004, LAT0 + 1e-4)])],
        zones=[box(LON0 + 0.001, LAT0 + 0.001, LON0 + 0.002, LAT0 + 0.002)],
        area=box(LON0 - 0.004, LAT0 - 0.003, LON0 + 0.004, LAT0 + 0.003),
    )


@pytest.fixture(scope="module")
def offline_html() -> str:
    return build_map(content())


def test_has_every_layer_and_control(offline_html: str) -> None:
    h = offline_html
    for name in ("Intact (10)", "Minor (10)", "Major (10)", "Destroyed (10)",
                 "Clusters (40 objects)", "Damage density (heat)", "Planned routes",
                 "Flown track", "No-fly zones (1)", "Photo footprints (1)", "Drone photos (1)",
                 "Survey area"):
        assert f'"{name}"' in h, name
    for js in ("L.control.layers(", "L.control.scale()", "L.Control.Measure(",
               "L.control.fullscreen(", "new L.Control.MiniMap(", "new L.Control.Draw(",
               "L.markerClusterGroup(", "L.heatLayer(", "L.imageOverlay(", "survey-legend"):
        assert js in h, js
    assert "id='export'" in h and "hq_drawings.geojson" in h
    for c in DamageClass:  # the GeoJSON carries the label; the layer its CSS class
        assert f'"damage": "{c.label}"' in h and f'"className": "dmg-{c.label}"' in h, c
    assert "data:image/png;base64," in h  # the north-up photo
    assert "data:image/jpeg;base64," in h  # the thumbnail in the footprint popup


def test_offline_fetches_nothing(offline_html: str) -> None:
    h = offline_html
    assert find_remote_references(h) == []
    assert "<script src=" not in h and '<link rel="stylesheet"' not in h
    assert not re.search(r"""src\s*=\s*["']?https?:""", h, re.I)
    assert not re.search(r"""url\(\s*["']?https?:""", h, re.I)
    assert "{z}" not in h and "tile.openstreetmap" not in h and "L.tileLayer(" not in h
    # The one remote href is the <a> link in Leaflet's own attribution prefix (inside leaflet.js):
    # a link a user may click, never fetched.
    hrefs = re.findall(r"""href\s*=\s*["']?https?://[^"' >]*""", h, re.I)
    assert hrefs == ['href="https://leafletjs.com'], hrefs
    # every asset's CSS images went in as data URIs
    assert "url(images/" not in h and "url('images/" not in h and "url(icon-" not in h


def test_online_uses_cdn_and_osm() -> None:
    h = build_map(content(8), offline=False)
    assert "tile.openstreetmap.org" in h
    assert '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js">' in h


def test_hostile_strings_are_escaped() -> None:
    h = build_map(content(8, title=XSS_SCRIPT + " t", name=XSS_ATTR))
    for raw in (XSS_SCRIPT, XSS_ATTR, "<img src=x", "<script>window"):
        assert raw not in h
        # Jinja's tojson turns < into \u003c; unescaped text would still reach innerHTML.
        assert raw.replace("<", "\\u003c").replace(">", "\\u003e") not in h
    assert "<title>&lt;script&gt;window.__pwned=1&lt;/script&gt; t</title>" in h
    assert "\\u0026lt;script\\u0026gt;window.__pwned=1" in h  # legend heading, as text
    assert "\\u0026quot;\\u0026gt;\\u0026lt;img src=x" in h  # photo name, as text


def test_ten_thousand_objects_scale() -> None:
    c = MapContent("big", objects(10_000, seed=3), [photo()])
    t0 = time.perf_counter()
    h = build_map(c)
    elapsed = time.perf_counter() - t0
    assert elapsed < 30, elapsed
    assert h.count("L.marker(") < 5  # only inside the vendored libraries
    assert h.count("L.circleMarker(") < 10  # one loop, not one call per object
    assert h.count("L.geoJson(") < 20
    assert '"Clusters (10,000 objects)"' in h
    assert "preferCanvas" in h and len(h) < 20_000_000


def test_write_map_is_atomic(tmp_path) -> None:
    out = tmp_path / "sub" / "map.html"
    write_map(content(4), out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in out.parent.iterdir()) == ["map.html"]


def test_bad_input_is_input_error() -> None:
    poly = box(LON0, LAT0, LON0 + 1e-4, LAT0 + 1e-4)
    with pytest.raises(TypeError, match="damage object 3: damage 'major' is not a DamageClass"):
        DamageObject(3, poly, "major", 0.5, 10.0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="nothing to show"):
        build_map(MapContent("empty"))
    with pytest.raises(InputError, match="lon/lat swapped"):
        build_map(MapContent("swapped", [DamageObject(1, box(44, 95, 44.001, 95.001),
                                                      DamageClass.MINOR, 0.5, 10.0)]))
    with pytest.raises(InputError, match="not PNG, JPEG or WebP"):
        Overlay(b"GIF89a", (0, 0, 1, 1))
    with pytest.raises(InputError, match="south < north"):
        Overlay(b"\x89PNG\r\n\x1a\n", (1, 0, 0, 1))
    with pytest.raises(InputError, match="thumbnail is not JPEG"):
        PhotoView("p", poly, b"\x89PNG\r\n\x1a\n")


def test_map_without_photos_or_objects() -> None:
    h = build_map(MapContent("plan only", routes=[LineString([(LON0, LAT0), (LON0 + 1e-3, LAT0)])]))
    assert "Planned routes" in h and find_remote_references(h) == []
