"""The HQ damage map: one self-contained Leaflet HTML file built with folium.

Damage objects are ground polygons coloured by severity (one GeoJSON layer per severity), with
a legend and counts, centroid clusters and a heat map for density, the planned routes, the flown
track, no-fly zones and photo footprints whose popup shows a thumbnail with the boxes drawn.
Controls: layers, scale, measure, full screen, mini map and a Draw tool that exports GeoJSON.

With ``offline=True`` (the default) every script and style is inlined from ``mapping/assets``
(images referenced by the styles become data URIs), no tile layer is added and the drone photos,
warped north-up (:func:`mapping.overlay.north_up_overlay`), are the base map: the file works with
no network. With ``offline=False`` folium's CDN links and an OpenStreetMap tile layer are used.

Scaling: objects go in as a handful of GeoJSON layers and one cluster layer fed from a plain
coordinate array (no ``L.marker`` per object); above ``CANVAS_ABOVE`` objects the vector layers
draw on a canvas instead of one SVG path each.

Escaping: every string that comes from files or users (title, photo names, paths) is HTML-escaped
here before it reaches the page, because folium's GeoJSON popups/tooltips and Leaflet's layer
control insert text with ``innerHTML``. Data embedded in scripts goes through Jinja's ``tojson``,
which escapes ``<``, ``>``, ``&`` and ``'``.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import folium
import folium.plugins as fplugins
from branca.element import Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template
from shapely.geometry import LineString, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from survey.core.damage import DamageClass
from survey.core.errors import InputError
from survey.core.files import atomic_write_text

SEVERITY_COLOURS: dict[DamageClass, str] = {
    DamageClass.INTACT: "#1a9641",
    DamageClass.MINOR: "#e6c229",
    DamageClass.MAJOR: "#f07c1f",
    DamageClass.DESTROYED: "#d7191c",
}
"""Fill/stroke colour per damage class (also used for the boxes on photo thumbnails)."""

NOT_SEEN_COLOUR = "#9e9e9e"
"""Footprints that no photo covered."""

CANVAS_ABOVE = 2000
"""With more damage objects than this, vector layers are drawn on a canvas, not as SVG paths."""

ASSETS_DIR = Path(__file__).with_name("assets")

_HEAT_WEIGHT: dict[DamageClass, float] = {
    DamageClass.INTACT: 0.2, DamageClass.MINOR: 0.45, DamageClass.MAJOR: 0.75,
    DamageClass.DESTROYED: 1.0}
_COORD_DIGITS = 7  # ~1 cm
_MAX_ZOOM = 22  # ~4 cm/pixel: drone photos carry detail beyond OSM's z19

# ---------------------------------------------------------------------------------------------
# Data in
# ---------------------------------------------------------------------------------------------


def _image_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class Overlay:
    """A north-up raster placed on the map between its bounds.

    Parameters
    ----------
    image
        PNG (may carry alpha), JPEG or WebP bytes, north up.
    bounds
        ``(south, west, north, east)`` in degrees.
    """

    image: bytes
    bounds: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        if _image_mime(self.image) is None:
            raise InputError("overlay", "image is not PNG, JPEG or WebP bytes")
        s, w, n, e = self.bounds
        if not all(math.isfinite(v) for v in self.bounds) or not (s < n and w < e):
            raise InputError("overlay", f"bounds {self.bounds} are not south < north, west < east")
        if s < -90 or n > 90:
            raise InputError("overlay", f"bounds {self.bounds} have a latitude beyond ±90")


@dataclass(frozen=True)
class DamageObject:
    """One detected building or structure on the ground.

    Parameters
    ----------
    id
        Object number.
    polygon
        Ground outline, lon/lat (WGS84).
    damage
        The damage class.
    confidence
        Detector confidence, 0..1.
    area_m2
        Ground area, square metres.
    photos
        Names (or paths) of the photos that show it.
    """

    id: int
    polygon: Polygon
    damage: DamageClass
    confidence: float
    area_m2: float
    photos: tuple[str, ...] = ()
    details: str = ""
    """Plain text for the popup (a footprint's id and attributes); escaped when drawn."""

    def __post_init__(self) -> None:
        where = f"damage object {self.id}"
        if not isinstance(self.damage, DamageClass):
            raise TypeError(f"{where}: damage {self.damage!r} is not a DamageClass")
        if not isinstance(self.polygon, BaseGeometry) or self.polygon.is_empty:
            raise InputError(where, "polygon is empty")
        if not math.isfinite(self.confidence) or not math.isfinite(self.area_m2):
            raise InputError(where, "confidence and area must be finite numbers")


@dataclass(frozen=True)
class PhotoView:
    """One drone photo as seen on the map.

    Parameters
    ----------
    name
        Photo name or path, shown as text.
    footprint
        Ground footprint, lon/lat.
    thumbnail_jpeg
        Small JPEG with the detection boxes drawn (:func:`mapping.overlay.thumbnail_with_boxes`).
    overlay
        The photo warped north-up (:func:`mapping.overlay.north_up_overlay`); the offline base map.
    """

    name: str
    footprint: Polygon
    thumbnail_jpeg: bytes | None = None
    overlay: Overlay | None = None

    def __post_init__(self) -> None:
        if self.thumbnail_jpeg is not None and _image_mime(self.thumbnail_jpeg) != "image/jpeg":
            raise InputError(f"photo {self.name!r}", "thumbnail is not JPEG bytes")
        if not isinstance(self.footprint, BaseGeometry) or self.footprint.is_empty:
            raise InputError(f"photo {self.name!r}", "footprint is empty")


@dataclass(frozen=True)
class MapContent:
    """Everything the HQ map shows. Geometries are lon/lat (WGS84).

    Parameters
    ----------
    title
        Map title (legend heading and page title).
    objects
        Damage objects.
    photos
        Photos: footprints, thumbnails and north-up overlays.
    routes
        Planned flight routes.
    track
        Flown track(s).
    zones
        No-fly zones.
    area
        The survey area, if any.
    """

    title: str
    objects: Sequence[DamageObject] = ()
    photos: Sequence[PhotoView] = ()
    routes: Sequence[LineString] = ()
    track: Sequence[LineString] = ()
    zones: Sequence[Polygon] = ()
    area: Polygon | None = None
    not_seen: Sequence[tuple[Polygon, str]] = ()
    """Footprints no photo covered, with their popup text: drawn grey."""


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def _round(c: Any) -> Any:
    if isinstance(c, (tuple, list)):
        return [_round(v) for v in c]
    return round(float(c), _COORD_DIGITS)


def _feature(geom: BaseGeometry, props: dict[str, Any], fid: int) -> dict[str, Any]:
    g = mapping(geom)
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": g["type"], "coordinates": _round(g["coordinates"])},
        "properties": props,
    }


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _data_uri(data: bytes) -> str:
    mime = _image_mime(data) or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _bounds(content: MapContent) -> tuple[float, float, float, float]:
    """(west, south, east, north) of everything on the map."""
    boxes: list[tuple[float, float, float, float]] = []
    geoms: list[BaseGeometry] = [o.polygon for o in content.objects]
    geoms += [g for g, _ in content.not_seen]
    geoms += [p.footprint for p in content.photos]
    geoms += [*content.routes, *content.track, *content.zones]
    if content.area is not None:
        geoms.append(content.area)
    boxes += [g.bounds for g in geoms if not g.is_empty]
    boxes += [(o.bounds[1], o.bounds[0], o.bounds[3], o.bounds[2])
              for p in content.photos if (o := p.overlay) is not None]
    if not boxes:
        raise InputError("map content", "nothing to show: no objects, photos, routes or area")
    w = min(b[0] for b in boxes)
    s = min(b[1] for b in boxes)
    e = max(b[2] for b in boxes)
    n = max(b[3] for b in boxes)
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise InputError("map content", "a geometry has non-finite coordinates")
    if s < -90 or n > 90:
        raise InputError("map content", "a latitude is beyond ±90: are lon/lat swapped?")
    return w, s, e, n


class _Legend(MacroElement):
    """A Leaflet control holding pre-escaped HTML (severity swatches and counts)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .survey-legend { background: rgba(255,255,255,0.92); padding: 6px 10px; font: 12px/1.4
          Arial, Helvetica, sans-serif; border-radius: 5px; box-shadow: 0 1px 5px rgba(0,0,0,.4);
          max-width: 260px; }
        .survey-legend h4 { margin: 0 0 4px; font-size: 13px; overflow-wrap: anywhere; }
        .survey-legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
          vertical-align: -2px; border: 1px solid #333; opacity: .85; }
        .survey-legend td.n { text-align: right; padding-left: 10px; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "bottomright"});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", "survey-legend");
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, html_text: str) -> None:
        super().__init__()
        self._name = "SurveyLegend"
        self.html = html_text


class _CentroidClusters(fplugins.FastMarkerCluster):
    """Object centroids as circle markers in one cluster layer, added in bulk.

    ``data`` rows are ``[lat, lon, class id]``. Unlike folium's template (one ``addTo``
    per marker) the markers go in with one ``addLayers`` call and ``chunkedLoading``.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function(){
                var colours = {{ this.colours|tojson }};
                var data = {{ this.data|tojson }};
                var cluster = L.markerClusterGroup({{ this.options|tojavascript }});
                var markers = new Array(data.length);
                for (var i = 0; i < data.length; i++) {
                    var row = data[i];
                    markers[i] = L.circleMarker([row[0], row[1]], {
                        radius: 6, weight: 1, color: "#222", fillOpacity: 0.9,
                        fillColor: colours[row[2]], className: "dmg-centroid"
                    });
                }
                cluster.addLayers(markers);
                cluster.addTo({{ this._parent.get_name() }});
                return cluster;
            })();
        {% endmacro %}"""
    )

    def __init__(self, data: list[list[float]], *, name: str, show: bool = True) -> None:
        super().__init__(
            data, name=name, show=show, chunkedLoading=True, disableClusteringAtZoom=21,
            showCoverageOnHover=False,
        )
        self.colours = [SEVERITY_COLOURS[c] for c in DamageClass]


class _PhotoMiniMap(JSCSSMixin, MacroElement):
    """Offline mini map: the photo overlays again (same data URIs, no tiles)."""

    default_js = fplugins.MiniMap.default_js
    default_css = fplugins.MiniMap.default_css

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }}_layer = L.layerGroup([
            {%- for o in this.overlays %}
                L.imageOverlay({{ o.get_name() }}._url, {{ o.get_name() }}.getBounds()),
            {%- endfor %}
            ]);
            var {{ this.get_name() }} = new L.Control.MiniMap(
                {{ this.get_name() }}_layer, {{ this.options|tojavascript }}
            );
            {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, overlays: list[folium.raster_layers.ImageOverlay]) -> None:
        super().__init__()
        self._name = "MiniMap"
        self.overlays = overlays
        self.options = {"toggleDisplay": True, "zoomLevelOffset": -4, "position": "bottomright"}


def _legend_html(content: MapContent, counts: dict[DamageClass, int]) -> str:
    rows = "".join(
        f'<tr><td><i style="background:{SEVERITY_COLOURS[c]}"></i>{c.label.capitalize()}</td>'
        f'<td class="n">{counts[c]:,}</td></tr>'
        for c in DamageClass
    )
    if content.not_seen:
        rows += (f'<tr><td><i style="background:{NOT_SEEN_COLOUR}"></i>Not seen</td>'
                 f'<td class="n">{len(content.not_seen):,}</td></tr>')
    total = sum(counts.values()) + len(content.not_seen)
    return (
        f"<h4>{_esc(content.title)}</h4><table>{rows}"
        f'<tr><td><b>Total</b></td><td class="n"><b>{total:,}</b></td></tr>'
        f'<tr><td>Photos</td><td class="n">{len(content.photos):,}</td></tr></table>'
    )


def _object_layers(m: folium.Map, content: MapContent) -> dict[DamageClass, int]:
    by_sev: dict[DamageClass, list[dict[str, Any]]] = {c: [] for c in DamageClass}
    for o in content.objects:
        props = {
            "id": int(o.id),
            "damage": o.damage.label,
            "confidence": f"{o.confidence:.2f}",
            "area": f"{o.area_m2:,.0f} m²",
            "photos": _esc(", ".join(o.photos)) if o.photos else "",
            "details": _esc(o.details),
        }
        by_sev[o.damage].append(_feature(o.polygon, props, len(by_sev[o.damage])))
    counts = {s: len(f) for s, f in by_sev.items()}
    for sev in DamageClass:
        if not by_sev[sev]:
            continue
        colour = SEVERITY_COLOURS[sev]
        style = {"color": colour, "weight": 2, "fillColor": colour, "fillOpacity": 0.45,
                 "className": f"dmg-{sev.label}"}
        folium.GeoJson(
            _collection(by_sev[sev]),
            name=f"{sev.label.capitalize()} ({counts[sev]:,})",
            style_function=lambda _f, st=style: st,
            highlight_function=lambda _f: {"weight": 4, "fillOpacity": 0.7},
            popup=folium.GeoJsonPopup(
                fields=["id", "damage", "confidence", "area", "photos", "details"],
                aliases=["Object", "Damage", "Confidence", "Area", "Photos", "Building"],
                localize=False, max_width=320,
            ),
            tooltip=folium.GeoJsonTooltip(fields=["damage", "id"], aliases=["", "#"],
                                          labels=False, localize=False),
            zoom_on_click=False,
        ).add_to(m)
    if content.not_seen:
        grey = {"color": NOT_SEEN_COLOUR, "weight": 1, "fillColor": NOT_SEEN_COLOUR,
                "fillOpacity": 0.35, "className": "dmg-not-seen"}
        feats = [_feature(g, {"status": "not seen", "details": _esc(text)}, i)
                 for i, (g, text) in enumerate(content.not_seen)]
        folium.GeoJson(
            _collection(feats), name=f"Not seen ({len(feats):,})",
            style_function=lambda _f, st=grey: st,
            popup=folium.GeoJsonPopup(fields=["status", "details"], aliases=["", "Building"],
                                      localize=False, max_width=320),
            zoom_on_click=False,
        ).add_to(m)
    return counts


def _photo_layers(m: folium.Map, content: MapContent) -> list[folium.raster_layers.ImageOverlay]:
    overlays: list[folium.raster_layers.ImageOverlay] = []
    with_overlay = [p for p in content.photos if p.overlay is not None]
    if with_overlay:
        group = folium.FeatureGroup(name=f"Drone photos ({len(with_overlay)})", show=True)
        for p in with_overlay:
            ov = p.overlay
            assert ov is not None
            s, w, n, e = ov.bounds
            layer = folium.raster_layers.ImageOverlay(
                image=_data_uri(ov.image), bounds=[[s, w], [n, e]], control=False,
                interactive=False, cross_origin=False,
            )
            layer.add_to(group)
            overlays.append(layer)
        group.add_to(m)
    if content.photos:
        feats = []
        for i, p in enumerate(content.photos):
            name = _esc(p.name)
            popup = f"<div><b>{name}</b>"
            if p.thumbnail_jpeg is not None:
                popup += (f'<br><img src="{_data_uri(p.thumbnail_jpeg)}" alt="{name}" '
                          'style="max-width:300px;max-height:300px;display:block">')
            popup += "</div>"
            feats.append(_feature(p.footprint, {"name": name, "popup": popup}, i))
        folium.GeoJson(
            _collection(feats),
            name=f"Photo footprints ({len(feats)})",
            style_function=lambda _f: {"color": "#1f78b4", "weight": 1, "dashArray": "4 3",
                                       "fillOpacity": 0.03, "className": "photo-footprint"},
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False, localize=False,
                                      max_width=330),
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False, localize=False),
            zoom_on_click=False,
            show=not with_overlay,
        ).add_to(m)
    return overlays


def _line_layer(m: folium.Map, geoms: Sequence[BaseGeometry], name: str, style: dict[str, Any],
                show: bool = True) -> None:
    feats = [_feature(g, {}, i) for i, g in enumerate(geoms) if not g.is_empty]
    if feats:
        folium.GeoJson(_collection(feats), name=name, style_function=lambda _f: style,
                       zoom_on_click=False, show=show).add_to(m)


def _build_folium(content: MapContent, offline: bool) -> folium.Map:
    w, s, e, n = _bounds(content)
    m = folium.Map(
        location=[(s + n) / 2, (w + e) / 2], zoom_start=17, tiles=None, control_scale=True,
        prefer_canvas=len(content.objects) > CANVAS_ABOVE,
    )
    # folium gives max_zoom to its tile layer only; clusters need the map's own maxZoom.
    m.options["max_zoom"] = _MAX_ZOOM
    root = m.get_root()
    assert isinstance(root, Figure)  # folium.Map puts itself in a Figure
    root.title = _esc(content.title)
    if not offline:
        folium.TileLayer("OpenStreetMap", max_native_zoom=19, max_zoom=_MAX_ZOOM).add_to(m)

    overlays = _photo_layers(m, content)
    if content.area is not None:
        _line_layer(m, [content.area], "Survey area",
                    {"color": "#333", "weight": 2, "fill": False, "dashArray": "8 4"})
    _line_layer(m, content.zones, f"No-fly zones ({len(content.zones)})",
                {"color": "#b00", "weight": 2, "fillColor": "#f00", "fillOpacity": 0.2,
                 "className": "no-fly"})
    _line_layer(m, content.routes, "Planned routes",
                {"color": "#6a3d9a", "weight": 2, "dashArray": "6 4", "className": "route"})
    _line_layer(m, content.track, "Flown track",
                {"color": "#00bcd4", "weight": 3, "className": "track"})
    counts = _object_layers(m, content)

    if content.objects:
        cents = [o.polygon.centroid for o in content.objects]
        rows = [[round(c.y, _COORD_DIGITS), round(c.x, _COORD_DIGITS), int(o.damage)]
                for c, o in zip(cents, content.objects, strict=True)]
        _CentroidClusters(rows, name=f"Clusters ({len(rows):,} objects)").add_to(m)
        heat = [[r[0], r[1], _HEAT_WEIGHT[o.damage]]
                for r, o in zip(rows, content.objects, strict=True)]
        fplugins.HeatMap(heat, name="Damage density (heat)", show=False, radius=20,
                         blur=15, min_opacity=0.3, max_zoom=20).add_to(m)

    _Legend(_legend_html(content, counts)).add_to(m)
    fplugins.Fullscreen(position="topleft").add_to(m)
    fplugins.MeasureControl(position="topleft", primary_length_unit="meters",
                            secondary_length_unit="kilometers",
                            primary_area_unit="sqmeters", secondary_area_unit="hectares").add_to(m)
    fplugins.Draw(export=True, filename="hq_drawings.geojson", position="topleft",
                  draw_options={"circlemarker": False}).add_to(m)
    if offline:
        _PhotoMiniMap(overlays).add_to(m)
    else:
        fplugins.MiniMap(toggle_display=True, position="bottomright").add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    m.fit_bounds([[s, w], [n, e]])
    return m


# ---------------------------------------------------------------------------------------------
# Offline: inline the CDN assets
# ---------------------------------------------------------------------------------------------

# CDN URL (as folium 0.20 writes it) -> vendored file under mapping/assets
_ASSET_FILES: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        "leaflet.markercluster/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        "leaflet.markercluster/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css":
        "leaflet.markercluster/MarkerCluster.Default.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/"
    "leaflet_heat.min.js": "leaflet.heat/leaflet_heat.min.js",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js":
        "leaflet-measure/leaflet-measure.min.js",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css":
        "leaflet-measure/leaflet-measure.css",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        "leaflet.fullscreen/Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css":
        "leaflet.fullscreen/Control.FullScreen.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.js":
        "leaflet-minimap/Control.MiniMap.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.css":
        "leaflet-minimap/Control.MiniMap.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.js":
        "leaflet-draw/leaflet.draw.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.css":
        "leaflet-draw/leaflet.draw.css",
}

# folium defaults this map does not use (Bootstrap, Font Awesome, glyphicons, awesome-markers:
# only folium.Icon markers and Bootstrap-styled popups need them); left out offline.
_UNUSED_PREFIXES: tuple[str, ...] = (
    "https://cdn.jsdelivr.net/npm/bootstrap@",
    "https://netdna.bootstrapcdn.com/bootstrap/",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
    "leaflet.awesome.rotate",
)

_SCRIPT_LINK = re.compile(r'<script src="(https?://[^"]+)"></script>')
_CSS_LINK = re.compile(r'<link rel="stylesheet" href="(https?://[^"]+)"/>')
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^)'"]+)\1\s*\)""")
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}
# What a browser would fetch: script/img/iframe src, stylesheet/icon links, CSS url().
_REMOTE_REF = re.compile(
    r"""<(?:script|img|iframe|source|video|audio|embed)\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*['"]?\s*(?:https?:)?//""",
    re.IGNORECASE,
)


@cache
def _asset_text(rel: str) -> str:
    return (ASSETS_DIR / rel).read_text(encoding="utf-8")


@cache
def _inline_css(rel: str) -> str:
    base = (ASSETS_DIR / rel).parent

    def data_uri(m: re.Match[str]) -> str:
        ref = m.group(2).strip()
        if ref.startswith(("data:", "#")):
            return m.group(0)
        f = (base / ref).resolve()
        if ASSETS_DIR.resolve() not in f.parents or not f.is_file():
            raise RuntimeError(f"mapping/assets/{rel}: url({ref}) is not a vendored file")
        b64 = base64.b64encode(f.read_bytes()).decode("ascii")
        return f'url("data:{_MIME[f.suffix.lower()]};base64,{b64}")'

    return _CSS_URL.sub(data_uri, _asset_text(rel)).replace("</style", "<\\/style")


def _is_unused(url: str) -> bool:
    return url.startswith(_UNUSED_PREFIXES)


def _inline_assets(page: str) -> str:
    """Replace folium's CDN ``<script>``/``<link>`` tags with the vendored files, inline."""

    def script(m: re.Match[str]) -> str:
        url = m.group(1)
        if _is_unused(url):
            return ""
        if url not in _ASSET_FILES:
            raise RuntimeError(f"no vendored copy of {url} in mapping/assets")
        js = _asset_text(_ASSET_FILES[url]).replace("</script", "<\\/script")
        return f"<script>/* {_ASSET_FILES[url]} */\n{js}\n</script>"

    def css(m: re.Match[str]) -> str:
        url = m.group(1)
        if _is_unused(url):
            return ""
        if url not in _ASSET_FILES:
            raise RuntimeError(f"no vendored copy of {url} in mapping/assets")
        return f"<style>/* {_ASSET_FILES[url]} */\n{_inline_css(_ASSET_FILES[url])}\n</style>"

    page = _SCRIPT_LINK.sub(script, page)
    page = _CSS_LINK.sub(css, page)
    left = find_remote_references(page)
    if left:
        raise RuntimeError(f"offline map still references the network: {left[:3]}")
    return page


def find_remote_references(page: str) -> list[str]:
    """Network fetches a browser would make for ``page``: remote script/img src, stylesheet
    links and CSS ``url()``. (Plain ``<a href>`` links are not fetches and are not listed.)

    Parameters
    ----------
    page
        HTML text.

    Returns
    -------
    list of str
        The matching snippets, empty when the page is self-contained.
    """
    return [page[m.start():m.end() + 40] for m in _REMOTE_REF.finditer(page)]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def build_map(content: MapContent, *, offline: bool = True) -> str:
    """Build the HQ damage map as one HTML page.

    Parameters
    ----------
    content
        What to show.
    offline
        True: inline every script and style, no tiles (the photo overlays are the base map).
        False: CDN scripts and an OpenStreetMap base layer.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    InputError
        If there is nothing to place on the map or a coordinate is not lon/lat.
    """
    page = _build_folium(content, offline).get_root().render()
    return _inline_assets(page) if offline else page


def write_map(content: MapContent, path: str | os.PathLike[str], *, offline: bool = True) -> None:
    """Build the map (:func:`build_map`) and write it atomically to ``path`` (UTF-8).

    Parameters
    ----------
    content
        What to show.
    path
        Output ``.html`` file; its folder is created if missing.
    offline
        See :func:`build_map`.
    """
    page = build_map(content, offline=offline)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
