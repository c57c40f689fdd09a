"""Camera attitude refined from the photos themselves: tie points between overlapping photos.

A drone's recorded gimbal angles are 0.7–2° off and its barometric height a few per cent; on
some flights a whole line's yaw is recorded 180° off. Neighbouring survey photos overlap, and
the same ground feature seen in two photos must land on the same spot. :func:`refine_poses`

1. finds the pairs of photos whose ground footprints overlap (the recorded poses are good
   enough for that),
2. matches SIFT features between them at reduced resolution (OpenCV; ratio test, then a
   MAGSAC homography to drop mismatches) — these are the *tie points*,
3. fixes gross yaw errors: the ground points of a pair, placed with the recorded poses, should
   coincide; a pair whose points are turned ~180° from each other has one photo flipped. The
   flips are 2-coloured over the pair graph, and of the two ways to colour each connected
   group the one whose tie points agree best is kept,
4. solves a small rotation (tilts about the east and north axes, a turn about the vertical:
   unlike yaw/pitch/roll these stay independent looking straight down, where yaw and roll
   turn the image alike) and a height correction per photo by robust least squares
   (Gauss–Newton, then Huber-reweighted), so that every tie point's two ground positions
   agree, with priors that keep the corrections small (what tie points cannot see — a tilt
   common to every photo — stays as recorded),
5. applies a photo's correction only when the tie points it did not use (every other tie of
   each pair is held out) agree better with it than without; otherwise the photo keeps its
   recorded pose and the report says why.

Tie points are placed on the ground by the same camera model as everything else
(:func:`mapping.georef.pixels_to_local`); the ground under each tie point is taken as the
horizontal plane through where its first ray met the ground model (flat or DEM), which is
exact for flat ground and good to centimetres for the small corrections solved here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from mapping.georef import Ground, footprint, pixels_to_local
from mapping.pose import PhotoPose
from survey.core.camera import attitude_from_rotation, camera_rotation
from survey.core.frame import LocalFrame

MATCH_SIDE_PX = 1000
"""Photos are matched with their long side reduced to about this (JPEG DCT scaling)."""
MIN_OVERLAP = 0.2
"""Pairs whose footprints overlap by less than this share of the smaller one are not matched."""
MIN_TIES = 12
"""A pair needs this many RANSAC inliers to count; a photo this many to be corrected."""
MAX_TIES_PER_PAIR = 300
PRIOR_DEG = (2.0, 2.0, 5.0)
"""How far (1 σ) the corrections are expected to go: tilts about the east and north axes,
and a turn about the vertical (degrees)."""
PRIOR_HEIGHT_M = 3.0
"""... and the height correction (barometric height over a flight)."""
TIE_SIGMA_M = 0.2
"""Expected disagreement of one tie point on the ground after refinement (the priors' scale)."""


@dataclass(frozen=True)
class Correction:
    """What refinement did to one photo's pose.

    ``tilt_deg``/``turn_deg``: the solved rotation (how far the optical axis moved; the turn
    about the vertical), ``d_yaw_deg``/``d_pitch_deg``/``d_roll_deg``: the same as changes of
    the recorded angles, ``d_height_m``: the height correction; ``flipped``: the recorded yaw
    was 180° off; ``before_m`` / ``after_m``: median disagreement on the ground of the
    photo's held-out tie points, with the recorded and the corrected poses; ``applied``:
    whether the corrected pose is used; ``reason``: why not, when not.
    """

    photo: Path
    ties: int
    tilt_deg: float = 0.0
    turn_deg: float = 0.0
    d_yaw_deg: float = 0.0
    d_pitch_deg: float = 0.0
    d_roll_deg: float = 0.0
    d_height_m: float = 0.0
    flipped: bool = False
    before_m: float = math.nan
    after_m: float = math.nan
    applied: bool = False
    reason: str = ""


@dataclass
class Refinement:
    """The refined poses and the report."""

    poses: dict[Path, PhotoPose]
    corrections: list[Correction]
    pairs: int = 0
    ties: int = 0
    before_m: float = math.nan
    """Median disagreement of all held-out tie points with the recorded poses."""
    after_m: float = math.nan
    """... with the poses as refined (corrections applied where supported)."""
    seconds: float = 0.0
    pair_residuals: list[tuple[Path, Path, float, float]] = field(default_factory=list)
    """Per pair: photos, held-out median before and after (metres)."""


@dataclass
class _Ties:
    """Tie points of one pair: full-resolution pixels in photo ``a`` and in photo ``b``."""

    a: int
    b: int
    uv_a: np.ndarray
    uv_b: np.ndarray


# --- features and matches --------------------------------------------------------------------

_REDUCED = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
            4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def _features(pose: PhotoPose) -> tuple[np.ndarray, np.ndarray | None]:
    """SIFT keypoints (N, 2, full-resolution pixels) and descriptors of a photo decoded at
    reduced size (a JPEG is decoded straight at 1/2, 1/4 or 1/8 of its size)."""
    side = max(pose.camera.image_w_px, pose.camera.image_h_px)
    reduction = max((r for r in _REDUCED if side / r >= MATCH_SIDE_PX), default=1)
    image = cv2.imread(str(pose.path), _REDUCED[reduction])
    if image is None:
        return np.empty((0, 2)), None
    sift = cv2.SIFT_create(nfeatures=3000)  # type: ignore[attr-defined]  # not in cv2's stubs
    keypoints, descriptors = sift.detectAndCompute(image, None)
    scale = pose.camera.image_w_px / image.shape[1]
    # keypoint coordinates are index coordinates (pixel centres at integers)
    uv = (np.array([k.pt for k in keypoints], dtype=float).reshape(-1, 2) + 0.5) * scale
    return uv, descriptors


def _match(fa: tuple[np.ndarray, np.ndarray | None], fb: tuple[np.ndarray, np.ndarray | None],
           ) -> tuple[np.ndarray, np.ndarray]:
    """Tie points between two photos: mutual ratio-test matches kept by a MAGSAC homography
    (at reduced resolution a few pixels of parallax from buildings still pass)."""
    (uv_a, da), (uv_b, db) = fa, fb
    empty = np.empty((0, 2))
    if da is None or db is None or len(da) < MIN_TIES or len(db) < MIN_TIES:
        return empty, empty
    matcher = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 32})
    pairs = [m[0] for m in matcher.knnMatch(da, db, k=2)
             if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(pairs) < MIN_TIES:
        return empty, empty
    a = uv_a[[m.queryIdx for m in pairs]]
    b = uv_b[[m.trainIdx for m in pairs]]
    scale = max(np.ptp(uv_a[:, 0]), 1.0) / MATCH_SIDE_PX
    _, inliers = cv2.findHomography(a, b, cv2.USAC_MAGSAC, 3.0 * scale)
    if inliers is None:
        return empty, empty
    keep = inliers.ravel().astype(bool)
    a, b = a[keep], b[keep]
    if len(a) > MAX_TIES_PER_PAIR:  # spread evenly over the matches
        pick = np.linspace(0, len(a) - 1, MAX_TIES_PER_PAIR).astype(int)
        a, b = a[pick], b[pick]
    return a, b


def _overlapping_pairs(poses: Sequence[PhotoPose], ground: Callable[[PhotoPose], Ground],
                       frame: LocalFrame, max_neighbours: int = 8) -> list[tuple[int, int]]:
    """Pairs of photos whose ground footprints overlap by at least :data:`MIN_OVERLAP` of the
    smaller one; each photo keeps its ``max_neighbours`` largest overlaps."""
    shapes = [frame.geom_to_local(footprint(p, ground(p))) for p in poses]
    overlaps: dict[tuple[int, int], float] = {}
    for i, si in enumerate(shapes):
        for j in range(i + 1, len(shapes)):
            sj = shapes[j]
            smaller = min(si.area, sj.area)
            if smaller > 0 and si.intersects(sj):
                share = si.intersection(sj).area / smaller
                if share >= MIN_OVERLAP:
                    overlaps[(i, j)] = share
    keep: set[tuple[int, int]] = set()
    for i in range(len(poses)):
        mine = sorted((v, k) for k, v in overlaps.items() if i in k)[::-1][:max_neighbours]
        keep.update(k for _, k in mine)
    return sorted(keep)


# --- placing tie points on the ground ---------------------------------------------------------


class _Block:
    """The photos and tie points of one refinement, in one local frame.

    Parameters per photo: a rotation vector ``[east, north, up]`` in degrees, applied to the
    recorded camera-to-world rotation from the world side, and ``d_height`` in metres.
    """

    def __init__(self, poses: Sequence[PhotoPose], ties: Sequence[_Ties],
                 ground: Callable[[PhotoPose], Ground], frame: LocalFrame) -> None:
        self.poses = list(poses)
        self.ties = list(ties)
        n = len(poses)
        centres = []
        for p in poses:
            x, y = frame.to_local(p.lon_deg, p.lat_deg)
            centres.append((float(x), float(y), ground(p).camera_height(p)))
        self.centres = np.array(centres).reshape(n, 3)
        self.rotations = [camera_rotation(p.yaw_deg, p.pitch_deg, p.roll_deg) for p in poses]
        # per tie: photo indices, normalised image coordinates on both sides, ground height
        ia, ib, na, nb, za = [], [], [], [], []
        for t in ties:
            pa = poses[t.a]
            ia.append(np.full(len(t.uv_a), t.a))
            ib.append(np.full(len(t.uv_b), t.b))
            na.append(pa.camera.normalised(t.uv_a))
            nb.append(poses[t.b].camera.normalised(t.uv_b))
            za.append(pixels_to_local(pa, t.uv_a, ground(pa))[:, 2])
        self.ia = np.concatenate(ia) if ia else np.empty(0, int)
        self.ib = np.concatenate(ib) if ib else np.empty(0, int)
        self.na = np.concatenate(na) if na else np.empty((0, 2))
        self.nb = np.concatenate(nb) if nb else np.empty((0, 2))
        self.z = np.concatenate(za) if za else np.empty(0)
        self.pair = np.concatenate([np.full(len(t.uv_a), k) for k, t in enumerate(ties)]) \
            if ties else np.empty(0, int)
        ok = np.isfinite(self.z) & np.isfinite(self.na).all(1) & np.isfinite(self.nb).all(1)
        for name in ("ia", "ib", "na", "nb", "z", "pair"):
            setattr(self, name, getattr(self, name)[ok])
        # hold out every other tie of each pair to check the solution with
        order = np.zeros(len(self.z), dtype=int)
        for k in np.unique(self.pair):
            where = np.flatnonzero(self.pair == k)
            order[where] = np.arange(len(where))
        self.check = order % 2 == 1

    def ground_points(self, params: np.ndarray, side: str,
                      mask: np.ndarray | None = None) -> np.ndarray:
        """Ground (x, y) of the tie rays from photo ``side`` (``"a"`` or ``"b"``) of each tie
        (those in ``mask``), with corrections ``params``."""
        index, normalised = (self.ia, self.na) if side == "a" else (self.ib, self.nb)
        z = self.z
        if mask is not None:
            index, normalised, z = index[mask], normalised[mask], z[mask]
        p = params.reshape(-1, 4)
        out = np.full((len(index), 2), np.nan)
        rays = np.column_stack([normalised, np.ones(len(normalised))])
        for i in np.unique(index):
            sel = index == i
            world = rays[sel] @ (rotation_vector(p[i, :3]) @ self.rotations[i]).T
            x0, y0, h0 = self.centres[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (z[sel] - h0 - p[i, 3]) / world[:, 2]
            t = np.where((world[:, 2] < 0) & (t > 0), t, np.nan)
            out[sel] = np.column_stack([x0 + world[:, 0] * t, y0 + world[:, 1] * t])
        return out

    def disagreement(self, params: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Per tie: ground position from ``b`` minus from ``a`` (N, 2), metres."""
        return self.ground_points(params, "b", mask) - self.ground_points(params, "a", mask)

    def distances(self, params: np.ndarray) -> np.ndarray:
        return np.hypot(*self.disagreement(params).T)


def _pair_rotation(block: _Block, params: np.ndarray, k: int) -> float:
    """Rotation (degrees) that takes a pair's tie points placed from photo ``a`` onto the same
    points placed from photo ``b`` (0 when the two yaws agree)."""
    sel = block.pair == k
    ga = block.ground_points(params, "a", sel)
    gb = block.ground_points(params, "b", sel)
    ok = np.isfinite(ga).all(1) & np.isfinite(gb).all(1)
    if ok.sum() < 3:
        return 0.0
    a, b = ga[ok] - ga[ok].mean(0), gb[ok] - gb[ok].mean(0)
    cross = float(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]))
    dot = float(np.sum(a * b))
    return math.degrees(math.atan2(cross, dot))


def _fix_flips(block: _Block, params: np.ndarray) -> np.ndarray:
    """Photos whose yaw is 180° off their neighbours': 2-colour the pairs that disagree by more
    than 90°, and per connected group keep the colouring whose tie points agree best. Returns
    a boolean per photo (flipped)."""
    n = len(block.poses)
    edges: dict[int, list[tuple[int, bool]]] = {i: [] for i in range(n)}
    for k, t in enumerate(block.ties):
        flip = abs(_pair_rotation(block, params, k)) > 90.0
        edges[t.a].append((t.b, flip))
        edges[t.b].append((t.a, flip))
    colour = np.full(n, -1)
    flipped = np.zeros(n, dtype=bool)
    for start in range(n):
        if colour[start] >= 0 or not edges[start]:
            continue
        colour[start], group, todo = 0, [start], [start]
        while todo:
            i = todo.pop()
            for j, flip in edges[i]:
                if colour[j] < 0:
                    colour[j] = colour[i] ^ int(flip)
                    group.append(j)
                    todo.append(j)
        members = np.array(group)
        best, best_cost = None, math.inf
        for which in (0, 1):
            trial = params.copy().reshape(-1, 4)
            turn = members[colour[members] == which]
            trial[turn, 2] += 180.0
            d = block.distances(trial.ravel())
            inside = np.isin(block.ia, members)
            cost = float(np.nanmedian(d[inside])) if inside.any() else math.inf
            if cost < best_cost:
                best, best_cost = turn, cost
        if best is not None:
            flipped[best] = True
    return flipped


# --- the solve ---------------------------------------------------------------------------------


def _solve(block: _Block, start: np.ndarray, iterations: int = 15) -> np.ndarray:
    """Corrections from the solving half of the tie points: Gauss–Newton on the tie points'
    ground disagreements with Gaussian priors on every correction; after three plain steps
    the tie points are reweighted (Huber, at three robust standard deviations) so that a few
    bad matches the homography let through do not pull the solution."""
    use = ~block.check
    n = len(block.poses)
    prior = np.array([*PRIOR_DEG, PRIOR_HEIGHT_M] * n)
    x = np.zeros(4 * n)
    rows_a = [np.flatnonzero(block.ia[use] == i) for i in range(n)]
    rows_b = [np.flatnonzero(block.ib[use] == i) for i in range(n)]
    masks_a = [_subset(use, rows) for rows in rows_a]
    masks_b = [_subset(use, rows) for rows in rows_b]
    step = 1e-3
    for iteration in range(iterations):
        params = start + x
        r = block.disagreement(params, use)
        ok = np.isfinite(r).all(axis=1)
        jac = np.zeros((len(r), 2, 4 * n))
        ga = block.ground_points(params, "a", use)
        gb = block.ground_points(params, "b", use)
        for i in range(n):
            for j in range(4):
                bumped = params.copy()
                bumped[4 * i + j] += step
                if len(rows_b[i]):
                    moved = block.ground_points(bumped, "b", masks_b[i])
                    jac[rows_b[i], :, 4 * i + j] += (moved - gb[rows_b[i]]) / step
                if len(rows_a[i]):
                    moved = block.ground_points(bumped, "a", masks_a[i])
                    jac[rows_a[i], :, 4 * i + j] -= (moved - ga[rows_a[i]]) / step
        distance = np.hypot(*np.where(ok[:, None], r, 0.0).T)
        weight = ok.astype(float)
        if iteration >= 3 and ok.any():
            spread = 1.4826 * float(np.median(distance[ok]))
            k = max(3.0 * spread, 0.05)
            weight *= np.minimum(1.0, k / np.maximum(distance, 1e-12))
        jw = (jac * weight[:, None, None]).reshape(-1, 4 * n)
        res = np.where(ok[:, None], r, 0.0).ravel()
        jj = jac.reshape(-1, 4 * n)
        normal = jw.T @ jj / TIE_SIGMA_M**2 + np.diag(1.0 / prior**2)
        rhs = -jw.T @ res / TIE_SIGMA_M**2 - x / prior**2
        dx = np.linalg.solve(normal, rhs)
        x += dx
        if np.max(np.abs(dx) / prior) < 1e-4:
            break
    return start + x


def _subset(use: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The mask over all ties that selects ``rows`` of the ties in ``use``."""
    mask = np.zeros(len(use), dtype=bool)
    mask[np.flatnonzero(use)[rows]] = True
    return mask


def _median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else math.nan


def refine_poses(poses: Sequence[PhotoPose], ground: Callable[[PhotoPose], Ground], *,
                 workers: int = 2, progress: Callable[[int, int], None] | None = None
                 ) -> Refinement:
    """Refined poses of ``poses`` from tie points between overlapping photos (see the module).

    ``ground`` gives each photo's ground model. ``progress(done, total)`` is told as photos
    are matched. Photos without enough tie points keep their recorded pose.
    """
    started = time.perf_counter()
    poses = list(poses)
    out = Refinement(poses={p.path: p for p in poses}, corrections=[])
    if len(poses) < 2:
        out.corrections = [Correction(p.path, 0, reason="no overlapping photo") for p in poses]
        return out
    lat = float(np.mean([p.lat_deg for p in poses]))
    lon = float(np.mean([p.lon_deg for p in poses]))
    frame = LocalFrame(lat, lon)
    pairs = _overlapping_pairs(poses, ground, frame)
    needed = sorted({i for pair in pairs for i in pair})
    features: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for done, (i, f) in enumerate(zip(needed, pool.map(lambda i: _features(poses[i]),
                                                            needed), strict=True), 1):
            features[i] = f
            if progress:
                progress(done, len(needed))
    cv2.setRNGSeed(0)  # FLANN's trees and MAGSAC's samples: the same photos, the same answer
    ties = []
    for a, b in pairs:
        uv_a, uv_b = _match(features[a], features[b])
        if len(uv_a) >= MIN_TIES:
            ties.append(_Ties(a, b, uv_a, uv_b))
    block = _Block(poses, ties, ground, frame)
    out.pairs, out.ties = len(ties), len(block.z)
    zero = np.zeros(4 * len(poses))
    before = block.distances(zero)
    out.before_m = _median(before[block.check])
    if not ties:
        out.corrections = [Correction(p.path, 0, reason="no tie points") for p in poses]
        out.after_m, out.seconds = out.before_m, time.perf_counter() - started
        return out
    flipped = _fix_flips(block, zero)
    start = zero.reshape(-1, 4).copy()
    start[flipped, 2] = 180.0
    solved = _solve(block, start.ravel()).reshape(-1, 4)
    after_solved = block.distances(solved.ravel())
    final = np.zeros_like(solved)
    corrections = []
    for i, pose in enumerate(poses):
        mine = (block.ia == i) | (block.ib == i)
        check = mine & block.check
        n_ties = int(mine.sum())
        b_m, a_m = _median(before[check]), _median(after_solved[check])
        new = corrected_pose(pose, solved[i])
        c = Correction(pose.path, n_ties, float(np.hypot(*solved[i, :2])), float(solved[i, 2]),
                       _wrap(new.yaw_deg - pose.yaw_deg), new.pitch_deg - pose.pitch_deg,
                       _wrap(new.roll_deg - pose.roll_deg), float(solved[i, 3]),
                       bool(flipped[i]), b_m, a_m)
        if n_ties < MIN_TIES:
            c = replace(c, reason=f"{n_ties} tie points (needs {MIN_TIES})")
        elif not a_m < 0.9 * b_m:
            c = replace(c, reason=f"held-out tie points do not agree better ({b_m:.2f} m → "
                                  f"{a_m:.2f} m)")
        else:
            c = replace(c, applied=True)
            final[i] = solved[i]
        corrections.append(c)
    after = block.distances(final.ravel())
    out.after_m = _median(after[block.check])
    for c, (i, pose) in zip(corrections, enumerate(poses), strict=True):
        if c.applied:
            out.poses[pose.path] = corrected_pose(pose, final[i])
    for k, t in enumerate(block.ties):
        sel = (block.pair == k) & block.check
        out.pair_residuals.append((poses[t.a].path, poses[t.b].path, _median(before[sel]),
                                   _median(after[sel])))
    out.corrections = corrections
    out.seconds = time.perf_counter() - started
    return out


def rotation_vector(degrees: np.ndarray | Sequence[float]) -> np.ndarray:
    """The rotation matrix of a rotation vector (axis × angle) given in degrees."""
    matrix, _ = cv2.Rodrigues(np.radians(np.asarray(degrees, dtype=float)).reshape(3, 1))
    return matrix


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def corrected_pose(pose: PhotoPose, params: np.ndarray | Sequence[float]) -> PhotoPose:
    """``pose`` with corrections ``[east, north, up, d_height]`` applied: the rotation vector
    (degrees) turns the camera from the world side, the height moves it up."""
    *turn, d_height = (float(v) for v in params)
    rotation = rotation_vector(turn) @ camera_rotation(pose.yaw_deg, pose.pitch_deg,
                                                       pose.roll_deg)
    yaw, pitch, roll = attitude_from_rotation(rotation)
    return replace(pose, yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll,
                   rel_alt_m=pose.rel_alt_m + d_height,
                   alt_msl_m=None if pose.alt_msl_m is None else pose.alt_msl_m + d_height,
                   source=pose.source + "+refined")

