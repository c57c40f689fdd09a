"""Plan exporters: QGroundControl .plan, Mission Planner .waypoints, KML, GeoJSON, the bundle."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from missions.plan.export import bundle, geojson, kml, qgc, waypoints
from missions.plan.items import Cmd, Frame, MissionItem
from missions.plan.model import Plan
from survey.core.errors import InputError

TOL_DEG = 1e-7
NS = {"k": kml.KML_NS}


def assert_close(got, want) -> None:
    """Nested coordinate lists equal to ``TOL_DEG`` (and of the same shape)."""
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float),
                               rtol=0, atol=TOL_DEG)


def assert_items_equal(got: list[MissionItem], want: tuple[MissionItem, ...] | list[MissionItem]):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.command, g.frame, g.autocontinue) == (w.command, w.frame, w.autocontinue)
        for name in ("param1", "param2", "param3", "param4", "alt_m"):
            assert getattr(g, name) == pytest.approx(getattr(w, name), abs=1e-9), name
        assert g.lat_deg == pytest.approx(w.lat_deg, abs=TOL_DEG)
        assert g.lon_deg == pytest.approx(w.lon_deg, abs=TOL_DEG)


def assert_zones_equal(got, want):
    assert [z.inclusion for z in got] == [z.inclusion for z in want]
    for g, w in zip(got, want, strict=True):
        assert len(g.vertices) == len(w.vertices)
        for (glat, glon), (wlat, wlon) in zip(g.vertices, w.vertices, strict=True):
            assert (glat, glon) == pytest.approx((wlat, wlon), abs=TOL_DEG)


# --- QGroundControl .plan -------------------------------------------------------------------


def test_qgc_round_trip(plan: Plan, tmp_path: Path):
    for sortie in plan.sorties:
        path = tmp_path / f"s{sortie.number}.plan"
        qgc.write_qgc_plan(plan, sortie, path)
        got = qgc.read_qgc_plan(path)
        assert got.home == pytest.approx((plan.home_lat_deg, plan.home_lon_deg, 0.0), abs=TOL_DEG)
        assert_items_equal(got.items, sortie.items)
        assert got.items == list(sortie.items)  # JSON keeps doubles exactly
        assert_zones_equal(got.fence, plan.fence)
        assert got.rally == list(plan.rally)


def test_qgc_structure_is_what_qgroundcontrol_writes(plan: Plan, tmp_path: Path):
    sortie = plan.sorties[1]
    path = tmp_path / "s.plan"
    qgc.write_qgc_plan(plan, sortie, path)
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=4, sort_keys=True) + "\n"  # Qt: sorted, 4 spaces
    assert set(doc) == {"fileType", "groundStation", "version", "mission", "geoFence",
                        "rallyPoints"}
    assert (doc["fileType"], doc["groundStation"], doc["version"]) == ("Plan", "QGroundControl", 1)

    mission = doc["mission"]
    assert set(mission) == {"version", "firmwareType", "vehicleType", "cruiseSpeed", "hoverSpeed",
                            "globalPlanAltitudeMode", "plannedHomePosition", "items"}
    assert (mission["version"], mission["firmwareType"], mission["vehicleType"]) == (2, 3, 2)
    assert mission["cruiseSpeed"] == mission["hoverSpeed"] == plan.drone.cruise_speed_m_s
    assert mission["plannedHomePosition"] == [plan.home_lat_deg, plan.home_lon_deg, 0]

    items = mission["items"]
    assert [it["doJumpId"] for it in items] == list(range(1, len(sortie.items) + 1))
    for it, want in zip(items, sortie.items, strict=True):
        assert it["type"] == "SimpleItem"
        assert isinstance(it["autoContinue"], bool)
        assert type(it["command"]) is int and it["command"] == want.command
        assert type(it["frame"]) is int and it["frame"] == want.frame
        assert len(it["params"]) == 7
        assert all(type(p) in (int, float) for p in it["params"])
        assert it["params"][4:] == [want.lat_deg, want.lon_deg, want.alt_m]
        if want.is_nav:
            assert it["AltitudeMode"] == 1 and it["Altitude"] == want.alt_m
            assert "AMSLAltAboveTerrain" in it and it["AMSLAltAboveTerrain"] is None
        else:
            assert not {"Altitude", "AltitudeMode", "AMSLAltAboveTerrain"} & set(it)
    commands = [it["command"] for it in items]
    assert commands[0] == Cmd.NAV_TAKEOFF and commands[-1] == Cmd.NAV_RETURN_TO_LAUNCH
    trig = [it["params"][0] for it in items if it["command"] == Cmd.DO_SET_CAM_TRIGG_DIST]
    assert trig == [pytest.approx(plan.trigger_m), 0]

    fence = doc["geoFence"]
    assert (fence["version"], fence["circles"]) == (2, [])
    assert [p["inclusion"] for p in fence["polygons"]] == [True, False, False]
    for p, zone in zip(fence["polygons"], plan.fence, strict=True):
        assert p["version"] == 1
        assert p["polygon"] == [list(v) for v in zone.vertices]
    assert doc["rallyPoints"] == {"version": 2, "points": [[r.lat_deg, r.lon_deg, r.alt_m]
                                                          for r in plan.rally]}


def test_qgc_reads_qgroundcontrol_nulls(tmp_path: Path):
    """QGroundControl writes NaN as null: a take-off's yaw and, on ArduPilot, its position."""
    doc = {"fileType": "Plan", "groundStation": "QGroundControl", "version": 1,
           "mission": {"version": 2, "firmwareType": 3, "vehicleType": 2, "cruiseSpeed": 15,
                       "hoverSpeed": 5, "plannedHomePosition": [36.07, 139.98, 21.5],
                       "items": [{"type": "SimpleItem", "autoContinue": True, "command": 22,
                                  "doJumpId": 1, "frame": 3,
                                  "params": [0, 0, 0, None, None, None, 20]}]},
           "geoFence": {"version": 2, "circles": [], "polygons": [],
                        "breachReturn": [36.07, 139.98, 30]},
           "rallyPoints": {"version": 2, "points": []}}
    path = tmp_path / "qgc.plan"
    path.write_text(json.dumps(doc), encoding="utf-8")
    got = qgc.read_qgc_plan(path)
    assert got.home == (36.07, 139.98, 21.5)
    (item,) = got.items
    assert math.isnan(item.param4)
    assert (item.command, item.lat_deg, item.lon_deg, item.alt_m) == (22, 0.0, 0.0, 20.0)


def _plan_doc(plan: Plan, tmp_path: Path) -> dict:
    path = tmp_path / "good.plan"
    qgc.write_qgc_plan(plan, plan.sorties[0], path)
    return json.loads(path.read_text(encoding="utf-8"))


def _set(doc: dict, keys: tuple, value) -> None:
    *parents, last = keys
    for k in parents:
        doc = doc[k]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()


@pytest.mark.parametrize(("keys", "value", "hint"), [
    (("fileType",), "Mission", "fileType"),
    (("version",), 2, "version 2"),
    (("mission",), _DELETE, "'mission'"),
    (("mission", "version"), "2", "mission.version"),
    (("mission", "items"), {}, "mission.items: expected an array"),
    (("mission", "plannedHomePosition"), [36.0, 139.0], "plannedHomePosition"),
    (("mission", "plannedHomePosition", 0), 136.0, "out of range"),
    (("mission", "items", 1, "params"), [0, 0, 0, 0, 36.0, 139.0], "7 values"),
    (("mission", "items", 1, "params", 4), "36.07", "mission.items[1].params[4]"),
    (("mission", "items", 1, "params", 4), None, "needs a position"),
    (("mission", "items", 1, "command"), 16.5, "mission.items[1].command"),
    (("mission", "items", 1, "command"), True, "mission.items[1].command"),
    (("mission", "items", 1, "autoContinue"), 1, "autoContinue"),
    (("mission", "items", 1, "frame"), _DELETE, "'frame'"),
    (("mission", "items", 1, "type"), "ComplexItem", "ComplexItem"),
    (("mission", "items", 1), [16], "mission.items[1]: expected an object"),
    (("geoFence",), _DELETE, "'geoFence'"),
    (("geoFence", "circles"), [{"circle": {"center": [36, 139], "radius": 50}}],
     "circles[0]: missing key 'inclusion'"),
    (("geoFence", "circles"), [{"circle": {"center": [36, 139], "radius": -5},
                                "inclusion": False}], "radius: must be positive"),
    (("geoFence", "polygons", 1, "polygon"), [[36.0, 139.0], [36.1, 139.0]], "3 or more"),
    (("geoFence", "polygons", 1, "inclusion"), "no", "inclusion"),
    (("geoFence", "polygons", 0, "polygon", 2), [36.0], "geoFence.polygons[0].polygon[2]"),
    (("rallyPoints", "points", 0), [36.0, 139.0], "rallyPoints.points[0]"),
    (("rallyPoints", "version"), 1, "rallyPoints: version 1"),
])
def test_qgc_damaged_file_is_refused(plan: Plan, tmp_path: Path, keys, value, hint):
    doc = _plan_doc(plan, tmp_path)
    _set(doc, keys, value)
    path = tmp_path / "damaged.plan"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError) as err:
        qgc.read_qgc_plan(path)
    assert str(path) in str(err.value)
    assert hint in err.value.problem


@pytest.mark.parametrize(("text", "hint"), [
    ("", "not a readable JSON file"),
    ('{"fileType": "Plan", ', "not a readable JSON file"),
    ("[1, 2]", "expected an object"),
    ('{"fileType": "Plan", "version": NaN}', "not a readable JSON file"),
])
def test_qgc_not_a_plan(tmp_path: Path, text: str, hint: str):
    path = tmp_path / "bad.plan"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=hint) as err:
        qgc.read_qgc_plan(path)
    assert err.value.source == str(path)


def test_qgc_missing_file(tmp_path: Path):
    with pytest.raises(InputError, match="no such file") as err:
        qgc.read_qgc_plan(tmp_path / "nowhere.plan")
    assert "nowhere.plan" in str(err.value)


# --- Mission Planner .waypoints --------------------------------------------------------------


def test_waypoints_round_trip(plan: Plan, tmp_path: Path):
    home = (plan.home_lat_deg, plan.home_lon_deg, 0.0)
    for sortie in plan.sorties:
        path = tmp_path / f"s{sortie.number}.waypoints"
        waypoints.write_waypoints(home, sortie.items, path)
        got_home, items = waypoints.read_waypoints(path)
        assert got_home == pytest.approx(home, abs=TOL_DEG)
        assert_items_equal(items, sortie.items)
        assert items == list(sortie.items)  # exact decimals: not even 1e-15 lost


def test_fence_and_rally_round_trip(plan: Plan, tmp_path: Path):
    waypoints.write_fence_waypoints(plan.fence, tmp_path / "fence.waypoints")
    waypoints.write_rally_waypoints(plan.rally, tmp_path / "rally.waypoints")
    fence = waypoints.read_fence_waypoints(tmp_path / "fence.waypoints")
    rally = waypoints.read_rally_waypoints(tmp_path / "rally.waypoints")
    assert_zones_equal(fence.zones, plan.fence)
    assert rally.points == list(plan.rally)


def test_fence_and_rally_files_load_in_mavproxy(plan: Plan, tmp_path: Path):
    """MAVProxy's `fence load` / `rally load` (pymavlink's MissionItemProtocol loaders) send
    every line as an item: item 0 must be the first fence vertex or rally point, not a home
    row (which the vehicle refuses as UNSUPPORTED)."""
    import subprocess
    import sys

    from missions.plan.items import Cmd, FenceZone

    circle = FenceZone(False, ((plan.home_lat_deg + 0.001, plan.home_lon_deg),), 25.0)
    zones = [*plan.fence, circle]
    waypoints.write_fence_waypoints(zones, tmp_path / "fence.waypoints")
    waypoints.write_rally_waypoints(plan.rally, tmp_path / "rally.waypoints")
    # in a process of its own: the loaders need pymavlink's process-wide MAVLINK20 switch
    script = (
        "import json, sys\n"
        "from pymavlink import mavwp\n"
        "out = {}\n"
        "for kind, cls in (('fence', mavwp.MissionItemProtocol_Fence),"
        " ('rally', mavwp.MissionItemProtocol_Rally)):\n"
        "    w = cls(target_system=1, target_component=1)\n"
        "    w.load(sys.argv[1] + '/' + kind + '.waypoints')\n"
        "    out[kind] = [(w.item(i).seq, w.item(i).command, w.item(i).param1, w.item(i).x)"
        " for i in range(w.count())]\n"
        "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "MAVLINK20": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout)
    sent = [it for z in zones for it in z.items()]
    assert len(loaded["fence"]) == len(sent)
    for i, (it, (seq, command, p1, lat)) in enumerate(zip(sent, loaded["fence"], strict=True)):
        assert (seq, command, p1) == (i, int(it.command), it.param1)
        assert lat == pytest.approx(it.lat_deg, abs=1e-9)
    assert loaded["fence"][-1][1] == Cmd.FENCE_CIRCLE_EXCLUSION
    assert [c for _, c, _, _ in loaded["rally"]] == [Cmd.RALLY_POINT] * len(plan.rally)
    assert len(plan.rally) > 0
    assert waypoints.read_fence_waypoints(tmp_path / "fence.waypoints").zones == zones


def test_fence_files_with_a_home_line_are_still_read(plan: Plan, tmp_path: Path):
    path = tmp_path / "old.waypoints"
    waypoints.write_waypoints((plan.home_lat_deg, plan.home_lon_deg, 0.0),
                              [it for z in plan.fence for it in z.items()], path)
    assert_zones_equal(waypoints.read_fence_waypoints(path).zones, plan.fence)


def test_waypoints_text_layout(plan: Plan, tmp_path: Path):
    path = tmp_path / "m.waypoints"
    sortie = plan.sorties[0]
    waypoints.write_waypoints((plan.home_lat_deg, plan.home_lon_deg, 0.0), sortie.items, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "QGC WPL 110"
    assert lines[1] == "0\t1\t0\t16\t0\t0\t0\t0\t36.0712345678\t139.9812345678\t0.000000\t1"
    assert len(lines) == 2 + len(sortie.items)
    for seq, (line, item) in enumerate(zip(lines[2:], sortie.items, strict=True), start=1):
        f = line.split("\t")
        assert len(f) == 12
        assert f[:4] == [str(seq), "0", str(int(item.frame)), str(int(item.command))]
        assert all(len(v.split(".")[1]) >= 8 for v in f[4:10])  # params, lat, lon
        assert float(f[8]) == item.lat_deg and float(f[9]) == item.lon_deg
        assert "e" not in line.lower()


def test_waypoints_reads_mission_planner_file(tmp_path: Path):
    """Mission Planner on Windows: CRLF, 8 decimals, a trailing blank line; a BOM from Notepad."""
    text = ("\ufeffQGC WPL 110\r\n"
            "0\t1\t0\t16\t0\t0\t0\t0\t36.07123457\t139.98123457\t21.500000\t1\r\n"
            "1\t0\t3\t22\t0.00000000\t0.00000000\t0.00000000\t0.00000000\t0.00000000"
            "\t0.00000000\t40.000000\t1\r\n"
            "2\t0\t3\t16\t0.00000000\t0.00000000\t0.00000000\t0.00000000\t36.07212346"
            "\t139.98234568\t40.000000\t1\r\n"
            "3\t0\t3\t20\t0.00000000\t0.00000000\t0.00000000\t0.00000000\t0.00000000"
            "\t0.00000000\t0.000000\t1\r\n\r\n")
    path = tmp_path / "mp.waypoints"
    path.write_bytes(text.encode())
    home, items = waypoints.read_waypoints(path)
    assert home == (36.07123457, 139.98123457, 21.5)
    assert [it.command for it in items] == [22, 16, 20]
    assert (items[1].lat_deg, items[1].lon_deg, items[1].frame) == (36.07212346, 139.98234568,
                                                                    Frame.GLOBAL_RELATIVE_ALT)


_GOOD = ["QGC WPL 110",
         "0\t1\t0\t16\t0\t0\t0\t0\t36.0712345678\t139.9812345678\t0.000000\t1",
         "1\t0\t3\t16\t0\t0\t0\t0\t36.0721234567\t139.9823456789\t40.000000\t1",
         "2\t0\t3\t16\t0\t0\t0\t0\t36.0748765432\t139.9823456789\t40.000000\t1"]


@pytest.mark.parametrize(("lines", "hint"), [
    ([], "line 1: expected the header"),
    (["QGC WPL 100", *_GOOD[1:]], "line 1: expected the header"),
    (_GOOD[:1], "no home line"),
    ([*_GOOD[:3], _GOOD[3].rsplit("\t", 1)[0]], "line 4: expected 12"),
    ([*_GOOD[:2], _GOOD[2].replace("36.0721234567", "36,07")], "line 3: latitude '36,07'"),
    ([*_GOOD[:2], _GOOD[2].replace("1\t0\t3", "1\t0\tx", 1)], "line 3: frame 'x'"),
    ([*_GOOD[:2], _GOOD[3]], "line 3: sequence number 2, expected 1"),
    ([_GOOD[0], _GOOD[2]], "line 2: sequence number 1, expected 0"),
    ([*_GOOD[:2], _GOOD[2].replace("36.0721234567", "96.0721234567")], "line 3: latitude"),
    ([*_GOOD[:2], _GOOD[2].replace("40.000000", "nan")], "line 3: latitude, longitude and alt"),
    ([*_GOOD[:3], _GOOD[3][:-1] + "2"], "line 4: current and autocontinue"),
])
def test_waypoints_damaged_file_names_the_line(tmp_path: Path, lines: list[str], hint: str):
    path = tmp_path / "bad.waypoints"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        waypoints.read_waypoints(path)
    assert str(path) in str(err.value)
    assert hint in err.value.problem


def test_fence_file_errors(plan: Plan, tmp_path: Path):
    home = (plan.home_lat_deg, plan.home_lon_deg, 0.0)
    path = tmp_path / "fence.waypoints"
    inclusion = next(z for z in plan.fence if z.inclusion and not z.is_circle)
    waypoints.write_fence_waypoints([inclusion], path)
    lines = path.read_text(encoding="utf-8").splitlines()
    del lines[2]  # the inclusion polygon loses a vertex
    lines = lines[:1] + [f"{i}\t" + ln.split("\t", 1)[1] for i, ln in enumerate(lines[1:])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    n = len(inclusion.vertices)
    with pytest.raises(InputError, match=f"line 2: the fence polygon of {n} vertices"):
        waypoints.read_fence_waypoints(path)
    with pytest.raises(InputError, match=r"line 2: command 5001 .* expected 5100"):
        waypoints.read_rally_waypoints(path)
    waypoints.write_waypoints(home, plan.sorties[0].items, path)
    with pytest.raises(InputError, match="line 3: command 22 in a file of fence polygons"):
        waypoints.read_fence_waypoints(path)


# --- KML ------------------------------------------------------------------------------------


def test_kml_round_trip_routes(plan: Plan, tmp_path: Path):
    path = tmp_path / "plan.kml"
    kml.write_kml(plan, path)
    routes = kml.read_kml_routes(path)
    assert list(routes) == [s.number for s in plan.sorties]
    for sortie in plan.sorties:
        got, want = routes[sortie.number], kml.route_coords(plan, sortie)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g == pytest.approx(w, abs=TOL_DEG)
        # the route visits every waypoint, in order, at its altitude
        wps = [(it.lon_deg, it.lat_deg, it.alt_m) for it in sortie.items
               if it.command == Cmd.NAV_WAYPOINT]
        assert_close(got[2:2 + len(wps)], wps)
        home = (plan.home_lon_deg, plan.home_lat_deg)
        assert got[0] == pytest.approx((*home, 0.0)) and got[-1] == pytest.approx((*home, 0.0))


def test_kml_document(plan: Plan, tmp_path: Path):
    path = tmp_path / "plan.kml"
    kml.write_kml(plan, path)
    root = ET.parse(path).getroot()  # parses: notes with < & > were escaped
    assert root.tag == f"{{{kml.KML_NS}}}kml"
    doc = root.find("k:Document", NS)
    assert "Levee <east> & pumping station" in doc.findtext("k:description", namespaces=NS)
    folders = [f.findtext("k:name", namespaces=NS) for f in doc.findall("k:Folder", NS)]
    assert folders == ["Sortie 1", "Sortie 2", "Fence", "Rally points"]
    for sortie, folder in zip(plan.sorties, doc.findall("k:Folder", NS), strict=False):
        line = folder.find("k:Placemark/k:LineString", NS)
        assert line.findtext("k:altitudeMode", namespaces=NS) == "relativeToGround"
        photos = folder.findall("k:Folder/k:Placemark/k:Point", NS)
        assert len(photos) == len(sortie.photos)
    fence = doc.findall("k:Folder", NS)[2].findall("k:Placemark", NS)
    assert [p.findtext("k:styleUrl", namespaces=NS) for p in fence] == [
        "#inclusion", "#exclusion", "#exclusion"]
    red = doc.find("k:Style[@id='exclusion']/k:LineStyle/k:color", NS).text
    assert red.lower() == "ff0000ff"  # aabbggrr: opaque red
    for pm, zone in zip(fence, plan.fence, strict=True):
        text = pm.findtext("k:Polygon/k:outerBoundaryIs/k:LinearRing/k:coordinates",
                           namespaces=NS)
        ring = [tuple(float(v) for v in c.split(",")) for c in text.split()]
        assert ring[0] == ring[-1] and len(ring) == len(zone.vertices) + 1
        assert_close(ring[:-1], [(lon, lat) for lat, lon in zone.vertices])
    rally = doc.findall("k:Folder", NS)[3].findall("k:Placemark/k:Point/k:coordinates", NS)
    assert [tuple(float(v) for v in r.text.split(",")) for r in rally] == [
        (r.lon_deg, r.lat_deg, r.alt_m) for r in plan.rally]
    home = doc.find("k:Placemark/k:Point/k:coordinates", NS).text
    assert home == "139.9812345678,36.0712345678,0"


def test_kml_photos(plan: Plan, tmp_path: Path):
    path = tmp_path / "plan.kml"
    kml.write_kml(plan, path)
    folders = ET.parse(path).getroot().findall("k:Document/k:Folder", NS)
    for sortie, folder in zip(plan.sorties, folders, strict=False):
        photos = folder.find("k:Folder", NS)
        assert photos.findtext("k:name", namespaces=NS) == f"Sortie {sortie.number} photos"
        marks = photos.findall("k:Placemark", NS)
        assert len(marks) == len(sortie.photos)
        for i, (pm, photo) in enumerate(zip(marks, sortie.photos, strict=True), start=1):
            assert pm.findtext("k:name", namespaces=NS) == f"Photo {sortie.number}.{i}"
            assert pm.findtext("k:styleUrl", namespaces=NS) == "#photo"
            data = {d.get("name"): d.findtext("k:value", namespaces=NS)
                    for d in pm.iterfind("k:ExtendedData/k:Data", NS)}
            assert data == {"kind": "photo", "sortie": str(sortie.number), "index": str(i),
                            "heading_deg": f"{photo.heading_deg:g}"}
            point = pm.find("k:Point", NS)
            assert point.findtext("k:altitudeMode", namespaces=NS) == "relativeToGround"
            lon, lat = plan.frame.to_geo(photo.x_m, photo.y_m)
            coords = point.findtext("k:coordinates", namespaces=NS).split(",")
            assert [float(v) for v in coords] == [lon, lat, plan.altitude_m]  # exact


def test_kml_is_laid_out_as_an_element_tree_would_be(plan: Plan, tmp_path: Path):
    """Written as text, but the same as ``ET.indent`` and ``ET.tostring`` make of its tree:
    one element a line, two spaces a level, text escaped."""
    path = tmp_path / "plan.kml"
    kml.write_kml(plan, path)
    head, body = path.read_text(encoding="utf-8").split("\n", 1)
    assert head == '<?xml version="1.0" encoding="UTF-8"?>'
    bare = body.replace(f' xmlns="{kml.KML_NS}"', "", 1)  # ET would rename the namespace
    root = ET.fromstring(bare)
    ET.indent(root)
    assert ET.tostring(root, encoding="unicode") + "\n" == bare


@pytest.mark.parametrize(("text", "hint"), [
    ("<kml><Document>", "not an XML file"),
    ('<gpx xmlns="http://www.topografix.com/GPX/1/1"/>', "not <kml>"),
    ('<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>R</name><ExtendedData>'
     '<Data name="kind"><value>route</value></Data></ExtendedData></Placemark></kml>',
     "R: no sortie number"),
    ('<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>R</name><ExtendedData>'
     '<Data name="kind"><value>route</value></Data><Data name="sortie"><value>1</value></Data>'
     "</ExtendedData><LineString><coordinates>139.98,36.07,0 139.98;36.08</coordinates>"
     "</LineString></Placemark></kml>", "bad coordinate '139.98;36.08'"),
])
def test_kml_damaged(tmp_path: Path, text: str, hint: str):
    path = tmp_path / "bad.kml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        kml.read_kml_routes(path)
    assert str(path) in str(err.value) and hint in err.value.problem


# --- GeoJSON ---------------------------------------------------------------------------------


def test_geojson_features(plan: Plan, tmp_path: Path):
    path = tmp_path / "plan.geojson"
    geojson.write_geojson(plan, path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc == plan_to_json_roundtrip(plan)
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    by_kind: dict[str, list[dict]] = {}
    for f in doc["features"]:
        assert f["type"] == "Feature"
        by_kind.setdefault(f["properties"]["kind"], []).append(f)
    n_photos = sum(len(s.photos) for s in plan.sorties)
    assert {k: len(v) for k, v in by_kind.items()} == {
        "route": 2, "photo": n_photos, "footprint": n_photos, "keepout": 1, "covered": 1,
        "unreachable": 1, "fence": 3, "rally": 2, "home": 1}

    (home,) = by_kind["home"]
    assert home["geometry"] == {"type": "Point",
                                "coordinates": [plan.home_lon_deg, plan.home_lat_deg]}
    for f, sortie in zip(by_kind["route"], plan.sorties, strict=True):
        props = f["properties"]
        assert props["sortie"] == sortie.number and props["photos"] == len(sortie.photos)
        assert props["distance_m"] == sortie.distance_m and props["time_s"] == sortie.time_s
        want = plan.frame.geom_to_geo(sortie.route).coords
        assert f["geometry"]["type"] == "LineString"
        assert_close(f["geometry"]["coordinates"], list(want))
        assert f["geometry"]["coordinates"][0] == pytest.approx(
            [plan.home_lon_deg, plan.home_lat_deg], abs=TOL_DEG)  # lon first
    first = plan.sorties[0].photos[0]
    photo = by_kind["photo"][0]
    assert photo["properties"] == {"kind": "photo", "sortie": 1, "index": 1,
                                   "heading_deg": first.heading_deg, "alt_m": plan.altitude_m}
    lon, lat = plan.frame.to_geo(first.x_m, first.y_m)
    assert photo["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=TOL_DEG)
    foot = shape(by_kind["footprint"][0]["geometry"])
    assert foot.contains(shape(photo["geometry"]))
    assert shapely.is_ccw(foot.exterior)  # RFC 7946 right-hand rule
    for f, zone in zip(by_kind["fence"], plan.fence, strict=True):
        assert f["properties"]["inclusion"] is zone.inclusion
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
        assert {tuple(c) for c in ring} == {(lon, lat) for lat, lon in zone.vertices}
    assert [f["geometry"]["coordinates"] for f in by_kind["rally"]] == [
        [r.lon_deg, r.lat_deg] for r in plan.rally]
    assert by_kind["unreachable"][0]["properties"]["area_m2"] == pytest.approx(
        plan.unreachable.area)


def test_geojson_footprints_are_the_photos_footprints(plan: Plan, tmp_path: Path):
    path = tmp_path / "plan.geojson"
    geojson.write_geojson(plan, path)
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    feet = [f for f in features if f["properties"]["kind"] == "footprint"]
    photos = [(s.number, i, p) for s in plan.sorties for i, p in enumerate(s.photos, start=1)]
    assert len(feet) == len(photos)
    for f, (number, index, photo) in zip(feet, photos, strict=True):
        assert f["properties"] == {"kind": "footprint", "sortie": number, "index": index}
        want = shapely.orient_polygons(
            plan.frame.geom_to_geo(photo.footprint(plan.camera, plan.altitude_m)))
        (ring,) = f["geometry"]["coordinates"]
        assert_close(ring, want.exterior.coords)


def test_geojson_photos(plan: Plan):
    features = geojson.plan_to_geojson(plan)["features"]
    points = [f for f in features if f["properties"]["kind"] == "photo"]
    photos = [(s.number, i, p) for s in plan.sorties for i, p in enumerate(s.photos, start=1)]
    assert len(points) == len(photos)
    for f, (number, index, photo) in zip(points, photos, strict=True):
        assert f["properties"] == {"kind": "photo", "sortie": number, "index": index,
                                   "heading_deg": photo.heading_deg, "alt_m": plan.altitude_m}
        lon, lat = plan.frame.to_geo(photo.x_m, photo.y_m)
        assert f["geometry"] == {"type": "Point", "coordinates": [lon, lat]}  # exact


def test_geojson_text_is_laid_out_as_json_dumps_would(plan: Plan, tmp_path: Path):
    path = tmp_path / "plan.geojson"
    geojson.write_geojson(plan, path)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), ensure_ascii=False) + "\n"


def test_geojson_refuses_a_number_json_has_not(plan: Plan):
    from missions.plan.model import Photo

    sortie = plan.sorties[0]
    bad = dataclasses.replace(sortie, photos=(*sortie.photos, Photo(1.0, 2.0, math.nan)))
    with pytest.raises(ValueError, match="not finite"):
        geojson.geojson_text(dataclasses.replace(plan, sorties=(bad, *plan.sorties[1:])))


@pytest.mark.parametrize("heading", [0.0, 37.5, 90.0, 200.0, 359.9])
def test_photo_footprints_match_photo_footprint(plan: Plan, heading: float):
    from missions.plan.model import Photo

    photos = [Photo(12.5, -40.25, heading), Photo(-300.0, 7.0, (heading + 180.0) % 360.0)]
    corners = geojson.photo_footprints(photos, plan.camera, plan.altitude_m)
    assert corners.shape == (2, 4, 2)
    for got, photo in zip(corners, photos, strict=True):
        want = photo.footprint(plan.camera, plan.altitude_m).exterior.coords[:-1]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    rings = geojson.footprint_rings(plan.frame, corners)
    assert rings.shape == (2, 5, 2)
    for ring, photo in zip(rings, photos, strict=True):
        want = plan.frame.geom_to_geo(photo.footprint(plan.camera, plan.altitude_m))
        assert shapely.is_ccw(shapely.LinearRing(ring))  # RFC 7946 right-hand rule
        assert shapely.Polygon(ring).equals_exact(shapely.orient_polygons(want), 1e-12)
    turned = geojson.footprint_rings(plan.frame, corners[:, ::-1])  # clockwise corners
    assert all(shapely.is_ccw(shapely.LinearRing(ring)) for ring in turned)
    np.testing.assert_array_equal(turned[:, 0], rings[:, 3])  # reversed about its first corner


def plan_to_json_roundtrip(plan: Plan) -> dict:
    return json.loads(json.dumps(geojson.plan_to_geojson(plan), allow_nan=False))


def test_geojson_leaves_out_empty_unreachable(plan: Plan):
    empty = dataclasses.replace(plan, unreachable=shapely.Polygon())
    kinds = {f["properties"]["kind"] for f in geojson.plan_to_geojson(empty)["features"]}
    assert "unreachable" not in kinds and "covered" in kinds


# --- bundle ----------------------------------------------------------------------------------

EXPECTED = ["sortie_01.plan", "sortie_01.waypoints", "sortie_02.plan", "sortie_02.waypoints",
            "fence.waypoints", "rally.waypoints", "plan.kml", "plan.geojson", "summary.json"]


def test_bundle_writes_every_file(plan: Plan, tmp_path: Path):
    out = tmp_path / "out"
    written = bundle.write_plan_files(plan, out)
    assert [p.name for p in written] == EXPECTED
    assert all(p.parent == out and p.is_file() for p in written)
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left
    assert qgc.read_qgc_plan(out / "sortie_02.plan").items == list(plan.sorties[1].items)
    assert waypoints.read_waypoints(out / "sortie_01.waypoints").items == list(
        plan.sorties[0].items)
    assert waypoints.read_rally_waypoints(out / "rally.waypoints").points == list(plan.rally)
    assert len(waypoints.read_fence_waypoints(out / "fence.waypoints").zones) == 3
    assert list(kml.read_kml_routes(out / "plan.kml")) == [1, 2]

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["mode"] == "survey" and summary["camera"] == "mavic3e"
    assert summary["altitude_m"] == 40.0 and summary["gsd_cm"] == pytest.approx(plan.gsd_cm)
    assert summary["overlaps"] == {"front": 0.8, "side": 0.7}
    assert summary["home"] == {"lat_deg": plan.home_lat_deg, "lon_deg": plan.home_lon_deg,
                               "alt_amsl_m": None}
    assert summary["altitudes"] == "above home"
    assert [s["photos"] for s in summary["sorties"]] == [len(s.photos) for s in plan.sorties]
    assert summary["totals"]["distance_m"] == pytest.approx(plan.distance_m)
    assert summary["totals"]["photos"] == plan.photo_count
    assert summary["unreachable_m2"] == pytest.approx(600.0)
    assert summary["notes"] == list(plan.notes)


def test_bundle_failure_leaves_folder_untouched(plan: Plan, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "out"
    bundle.write_plan_files(plan, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bundle, "write_kml", broken)
    one_sortie = dataclasses.replace(plan, sorties=plan.sorties[:1], altitude_m=60.0)
    with pytest.raises(RuntimeError, match="disk full"):
        bundle.write_plan_files(one_sortie, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        bundle.write_plan_files(plan, fresh)
    assert not fresh.exists()


def test_bundle_removes_stale_sortie_files(plan: Plan, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sortie_03.plan").write_text("{}", encoding="utf-8")
    (out / "sortie_03.waypoints").write_text("", encoding="utf-8")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    bundle.write_plan_files(plan, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*EXPECTED, "notes.txt"])
