"""The CT painter: one patient's abdomen, pancreas, tumour and context drawn as a portal-venous CT.

Anatomy, tumour appearance and context (vessel contact, fat stranding, liver lesions) follow
the patient's latent row; the scan adds each centre's noise, sharpness and HU offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from helpers.synthetic.spec import CohortSpec

# Attenuation (portal venous, before the scanner's offset) of the background anatomy, HU.
TISSUE_HU = {
    "air": -1000.0,
    "fat": -100.0,
    "visceral_fat": -95.0,
    "muscle": 50.0,
    "liver": 110.0,
    "spleen": 115.0,
    "kidney": 160.0,
    "bowel": 40.0,
    "fluid": 12.0,
    "pancreas": 100.0,
    "cancellous_bone": 250.0,
    "cortical_bone": 650.0,
    "csf": 15.0,
    "aorta": 180.0,
    "sma": 185.0,
    "ivc": 135.0,
    "portal_vein": 170.0,
    "liver_lesion": 45.0,
    "necrosis": 18.0,
    "padding": -1024.0,
}
_LABELS = {
    name: code
    for code, name in enumerate(
        (
            "air",
            "fat",
            "subcutaneous_fat",
            "muscle",
            "bone",
            "organ",
            "liver",
            "bowel",
            "pancreas",
            "tumour",
            "cuff",
            "vessel",
            "lesion",
        )
    )
}
_SOFT_TISSUE = ("fat", "subcutaneous_fat", "muscle", "organ", "liver", "bowel", "pancreas", "lesion")
_TUMOUR_HOST = ("fat", "organ", "liver", "bowel", "pancreas", "lesion")  # it pushes muscle and bone aside


@dataclass
class _Canvas:
    """A CT volume being painted: HU and structure labels on a grid with mm coordinates."""

    x: np.ndarray  # (nx,) towards the patient's left
    y: np.ndarray  # (ny,) towards posterior
    z: np.ndarray  # (nz,) towards superior
    hu: np.ndarray  # (nz, ny, nx) float32
    label: np.ndarray  # (nz, ny, nx) uint8, codes of ``_LABELS``

    @classmethod
    def blank(cls, origin: np.ndarray, spacing: np.ndarray, shape: tuple[int, int, int]) -> _Canvas:
        """Air everywhere on a grid with the given origin and spacing (x, y, z order)."""
        x, y, z = (origin[i] + spacing[i] * np.arange(shape[i]) for i in range(3))
        size = (shape[2], shape[1], shape[0])
        return cls(x, y, z, np.full(size, TISSUE_HU["air"], np.float32), np.zeros(size, np.uint8))

    def box(self, centre: np.ndarray, half: np.ndarray) -> tuple[tuple[slice, ...], list[np.ndarray]] | None:
        """Index box of ``centre +- half`` (mm, x/y/z) and its coordinates relative to ``centre``.

        Coordinates come back as broadcastable (z, y, x) arrays; None if the box misses the grid.
        """
        slices, offsets = [], []
        for axis, coords in enumerate((self.z, self.y, self.x)):
            c, h = centre[2 - axis], half[2 - axis]
            lo, hi = np.searchsorted(coords, [c - h, c + h])
            if hi <= lo:
                return None
            slices.append(slice(lo, hi))
            shape = [1, 1, 1]
            shape[axis] = hi - lo
            offsets.append((coords[lo:hi] - c).astype(np.float32).reshape(shape))
        return tuple(slices), offsets

    def paint(
        self,
        where: tuple[slice, ...],
        mask: np.ndarray,
        label: str,
        value: float | np.ndarray,
        over: tuple[str, ...] | None = None,
    ) -> None:
        """Set HU and label inside ``mask`` of the box ``where``, only over the labels ``over`` if given."""
        if over is not None:
            mask = mask & _label_lookup(over)[self.label[where]]
        self.hu[where][mask] = value[mask] if isinstance(value, np.ndarray) else value
        self.label[where][mask] = _LABELS[label]


def _label_lookup(names: tuple[str, ...]) -> np.ndarray:
    """Boolean table over label codes: ``table[label_array]`` is True where the label is in ``names``."""
    table = np.zeros(256, bool)
    table[[_LABELS[name] for name in names]] = True
    return table


def _ellipsoid(
    canvas: _Canvas,
    centre: tuple[float, ...],
    semi: tuple[float, ...],
    label: str,
    value: float,
    over: tuple[str, ...] | None = None,
) -> None:
    """Paint a solid axis-aligned ellipsoid (mm)."""
    centre_a, semi_a = np.asarray(centre, float), np.asarray(semi, float)
    region = canvas.box(centre_a, semi_a)
    if region is not None:
        where, (dz, dy, dx) = region
        inside = (dx / semi_a[0]) ** 2 + (dy / semi_a[1]) ** 2 + (dz / semi_a[2]) ** 2 < 1
        canvas.paint(where, inside, label, value, over)


def _tube(
    canvas: _Canvas,
    points: list[tuple[float, float, float]],
    radius: float,
    label: str,
    value: float,
    over: tuple[str, ...] | None = None,
) -> None:
    """Paint a tube of constant radius along a polyline (segment-distance capsules)."""
    for a, b in zip(points[:-1], points[1:]):
        a_, b_ = np.asarray(a, np.float32), np.asarray(b, np.float32)
        region = canvas.box((a_ + b_) / 2, np.abs(b_ - a_) / 2 + radius)
        if region is None:
            continue
        where, (dz, dy, dx) = region
        axis = b_ - a_
        rel = (dx + axis[0] / 2, dy + axis[1] / 2, dz + axis[2] / 2)  # coordinates relative to a
        t = np.clip((rel[0] * axis[0] + rel[1] * axis[1] + rel[2] * axis[2]) / float(axis @ axis), 0, 1)
        dist2 = (rel[0] - t * axis[0]) ** 2 + (rel[1] - t * axis[1]) ** 2 + (rel[2] - t * axis[2]) ** 2
        canvas.paint(where, dist2 < radius**2, label, value, over)


@dataclass(frozen=True)
class _Anatomy:
    """One patient's habitus and retroperitoneal layout (mm; x left, y posterior, z superior)."""

    body_semi: tuple[float, float]
    fat_mm: float
    offset: np.ndarray  # (3,) shift of the organs against the body outline
    pancreas: np.ndarray  # (k, 3) centreline, head (0) to tail (k-1)
    pancreas_radius: np.ndarray  # (k,) in-plane radius along the centreline
    vessel_xy: dict[str, np.ndarray]  # in-plane axis of the vertical vessels near the pancreas
    vessel_radius: dict[str, float]
    vessel_top_z: dict[str, float]  # where each vertical segment ends superiorly

    def at(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        """A nominal organ position moved by this patient's offset."""
        return x + self.offset[0], y + self.offset[1], z + self.offset[2]


BODY_CENTRE_Y = 8.0
FOV_CENTRE = np.array([0.0, BODY_CENTRE_Y, -6.0])
CUFF_MM = 4.0  # thickness of tumour-like tissue around a vessel it contacts
_PANCREAS_NODES = np.array(
    [  # x, y, z, in-plane radius: uncinate, head, neck, body, tail
        (-26, 0, -26, 12),
        (-32, -8, -16, 15),
        (-22, -22, -6, 12),
        (-6, -26, 2, 9),
        (18, -25, 6, 10.5),
        (45, -14, 9, 10),
        (70, 6, 12, 8.5),
    ],
    float,
)


def _draw_anatomy(rng: np.random.Generator) -> _Anatomy:
    """Habitus (body size, subcutaneous fat) and small shifts of every organ."""
    habitus = rng.uniform(0.92, 1.08)
    offset = rng.normal(0, [3.0, 3.0, 4.0])
    nodes = _PANCREAS_NODES + np.c_[rng.normal(0, 2.0, (len(_PANCREAS_NODES), 3)), np.zeros(len(_PANCREAS_NODES))]
    arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(nodes[:, :3], axis=0), axis=1))]
    fine = np.linspace(0, arc[-1], 48)
    centreline = np.stack([np.interp(fine, arc, nodes[:, k]) for k in range(4)], axis=1)
    centreline[:, :3] += offset
    return _Anatomy(
        body_semi=(145 * habitus, 95 * habitus),
        fat_mm=rng.uniform(10, 28),
        offset=offset,
        pancreas=centreline[:, :3],
        pancreas_radius=centreline[:, 3] * rng.uniform(0.85, 1.15),
        vessel_xy={
            "sma": np.array([8.0, -3.0]) + offset[:2] + rng.normal(0, 1, 2),
            "smv": np.array([-8.0, -8.0]) + offset[:2] + rng.normal(0, 1, 2),
            "aorta": np.array([8.0, 17.0]) + offset[:2],
            "ivc": np.array([-20.0, 20.0]) + offset[:2],
        },
        vessel_radius={"sma": rng.uniform(3.5, 4.5), "smv": rng.uniform(5.0, 6.5), "aorta": 11.0, "ivc": 11.0},
        vessel_top_z={"sma": 22.0 + offset[2], "smv": 14.0 + offset[2]},
    )


@dataclass(frozen=True)
class _TumourShape:
    """A lobulated, spiculated sphere: radius(direction) = R (1 + sum of angular cosines)."""

    radius_mm: float
    directions: np.ndarray  # (k, 3) unit vectors
    frequencies: np.ndarray  # (k,)
    phases: np.ndarray  # (k,)
    amplitudes: np.ndarray  # (k,) relative radius perturbation per term

    @classmethod
    def draw(cls, diameter_mm: float, margin_irregularity: float, rng: np.random.Generator) -> _TumourShape:
        """Low-frequency lobulation plus higher-frequency spiculation, both growing with the margin score."""
        directions = rng.standard_normal((8, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        frequencies = np.r_[rng.uniform(1.5, 3.0, 5), rng.uniform(6.0, 9.0, 3)]
        lobulation, spiculation = 0.04 + 0.22 * margin_irregularity, 0.10 * margin_irregularity
        amplitudes = np.r_[np.full(5, lobulation / np.sqrt(2.5)), np.full(3, spiculation / np.sqrt(1.5))]
        return cls(
            diameter_mm / 2,
            directions.astype(np.float32),
            frequencies.astype(np.float32),
            rng.uniform(0, 2 * np.pi, 8).astype(np.float32),
            amplitudes.astype(np.float32),
        )

    @property
    def reach_mm(self) -> float:
        """An upper bound of the perturbed radius."""
        return self.radius_mm * (1 + self.amplitudes.sum())

    def radius(self, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """Boundary radius (mm) in the direction of each voxel."""
        scale = np.ones_like(rho)
        inv = 1 / np.maximum(rho, np.float32(1e-3))
        ux, uy, uz = dx * inv, dy * inv, dz * inv
        for (wx, wy, wz), f, p, a in zip(self.directions, self.frequencies, self.phases, self.amplitudes):
            scale += a * np.cos((ux * (f * wx) + uy * (f * wy) + uz * (f * wz)) + p)
        return np.float32(self.radius_mm) * np.maximum(scale, np.float32(0.4))


def _place_tumour(anatomy: _Anatomy, row: dict[str, Any], shape: _TumourShape, rng: np.random.Generator) -> np.ndarray:
    """Tumour centre near its site on the pancreas, its boundary abutting each vessel it contacts
    (through the cuff of tumour-like tissue) and a fat plane away from a vessel it does not contact.

    A 1 mm grid search around the site: the nearest point that meets every distance rule.
    """
    low, high = (0.04, 0.3) if row["location"] == "head" else (0.55, 0.92)
    site = anatomy.pancreas[int(rng.uniform(low, high) * (len(anatomy.pancreas) - 1))]
    offsets = np.arange(-70.0, 70.5, 1.0)
    grid = np.stack(np.meshgrid(site[0] + offsets, site[1] + offsets), axis=-1).reshape(-1, 2)
    contact = {"sma": row["sma_contact_deg"], "smv": row["smv_contact_deg"], "aorta": 0.0, "ivc": 0.0}
    violation = np.zeros(len(grid))
    for vessel, degrees in contact.items():
        towards = anatomy.vessel_xy[vessel] - grid
        distance = np.linalg.norm(towards, axis=1)
        if degrees > 0:
            unit = (towards / np.maximum(distance, 1e-6)[:, None]).astype(np.float32)
            flat, unit_length = np.zeros(len(unit), np.float32), np.ones(len(unit), np.float32)
            facing = shape.radius(unit[:, 0], unit[:, 1], flat, unit_length)  # boundary on the vessel's side
            touch = facing + anatomy.vessel_radius[vessel] + CUFF_MM - 1.0
            violation += np.maximum(np.abs(distance - touch) - 0.75, 0)
        else:
            clear = shape.radius_mm * (1 + shape.amplitudes.sum() / 2) + anatomy.vessel_radius[vessel] + 1.5
            violation += np.maximum(clear - distance, 0)
    cost = 1000 * violation + np.linalg.norm(grid - site[:2], axis=1)
    return np.r_[grid[np.argmin(cost)], site[2]]


_BODY_EXPONENT = 2.4  # superellipse: a flattened oval like an abdominal cross-section
_WALL_MM = 10.0
_ENDLESS = 1e4  # semi-axis along z of structures that run through the whole volume


def _paint_body(canvas: _Canvas, anatomy: _Anatomy) -> None:
    """Skin outline, subcutaneous fat, abdominal wall and visceral fat (the same on every slice)."""
    x, y = canvas.x[None, :], canvas.y[:, None] - BODY_CENTRE_Y - anatomy.offset[1] / 2
    a, b = anatomy.body_semi

    def inside(inset: float) -> np.ndarray:
        return np.abs(x / (a - inset)) ** _BODY_EXPONENT + np.abs(y / (b - inset)) ** _BODY_EXPONENT < 1

    hu = np.full(inside(0).shape, TISSUE_HU["air"], np.float32)
    label = np.zeros(hu.shape, np.uint8)
    for inset, name, tissue in (
        (0, "subcutaneous_fat", "fat"),
        (anatomy.fat_mm, "muscle", "muscle"),
        (anatomy.fat_mm + _WALL_MM, "fat", "visceral_fat"),
    ):
        region = inside(inset)
        hu[region], label[region] = TISSUE_HU[tissue], _LABELS[name]
    canvas.hu[:] = hu
    canvas.label[:] = label


def _paint_spine_and_muscles(canvas: _Canvas, anatomy: _Anatomy) -> None:
    """Vertebral body with discs, posterior arch and canal, paraspinal and psoas muscles."""
    at, hu = anatomy.at, TISSUE_HU
    for side in (-1, 1):
        _ellipsoid(canvas, at(30 * side, 80, 0), (20, 14, _ENDLESS), "muscle", hu["muscle"])
        _ellipsoid(canvas, at(30 * side, 42, -75), (12, 15, 75), "muscle", hu["muscle"])
    _ellipsoid(canvas, at(0, 45, 0), (20, 16, _ENDLESS), "bone", hu["cortical_bone"])
    _ellipsoid(canvas, at(0, 45, 0), (17.5, 13.5, _ENDLESS), "bone", hu["cancellous_bone"])
    for disc_z in np.arange(-120, 121, 36).tolist():
        _ellipsoid(canvas, at(0, 45, disc_z), (20, 16, 4), "bone", hu["muscle"] + 40)
    _ellipsoid(canvas, at(0, 70, 0), (13, 12, _ENDLESS), "bone", 0.7 * hu["cortical_bone"])
    _ellipsoid(canvas, at(0, 86, 0), (3.5, 10, _ENDLESS), "bone", 0.7 * hu["cortical_bone"])
    _ellipsoid(canvas, at(0, 69, 0), (8, 8.5, _ENDLESS), "bone", hu["csf"])


def _paint_organs(canvas: _Canvas, anatomy: _Anatomy, rng: np.random.Generator) -> None:
    """Kidneys, pancreas, duodenum, stomach, liver, gallbladder, spleen and bowel loops.

    Organs fill only fat (kidneys also the abdominal wall, the gallbladder the liver), so the
    order below is the order of precedence.
    """
    at, hu, fat = anatomy.at, TISSUE_HU, ("fat",)
    for side, z in ((1, -22), (-1, -32)):
        _ellipsoid(canvas, at(64 * side, 55, z), (22, 26, 45), "organ", hu["kidney"], ("fat", "muscle"))
        _ellipsoid(canvas, at(54 * side, 53, z), (6, 10, 16), "fat", hu["fat"] + 40, ("organ",))
    _paint_pancreas(canvas, anatomy, rng)
    duodenum = [at(-55, -10, 5), at(-57, -5, -20), at(-45, 5, -38), at(-12, 2, -44)]
    _tube(canvas, duodenum, 10, "bowel", hu["bowel"], fat)
    _tube(canvas, duodenum, 6, "bowel", hu["fluid"], ("bowel",))
    _ellipsoid(canvas, at(50, -40, 32), (38, 28, 32), "bowel", hu["bowel"], fat)
    _ellipsoid(canvas, at(50, -40, 32), (34, 24, 28), "bowel", hu["fluid"], ("bowel",))
    _ellipsoid(canvas, at(50, -54, 32), (26, 9, 20), "bowel", hu["air"], ("bowel",))
    _ellipsoid(canvas, at(-88, 0, 32), (62, 78, 62), "liver", hu["liver"], fat)
    _ellipsoid(canvas, at(-30, -58, 38), (48, 20, 26), "liver", hu["liver"], fat)
    _ellipsoid(canvas, at(-52, -42, -2), (14, 16, 22), "organ", hu["fluid"], ("fat", "liver"))
    _ellipsoid(canvas, at(82, 48, 30), (24, 42, 45), "organ", hu["spleen"], fat)
    for _ in range(7):
        centre = at(rng.uniform(-70, 90), rng.uniform(-80, -25), rng.uniform(-70, 0))
        radius = rng.uniform(9, 16)
        _ellipsoid(canvas, centre, (radius, radius, 1.6 * radius), "bowel", hu["bowel"], fat)
        lumen = hu["air"] if rng.random() < 0.3 else hu["fluid"]
        _ellipsoid(canvas, centre, (radius - 3, radius - 3, 1.6 * radius - 3), "bowel", lumen, ("bowel",))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_voxels: tuple[float, ...]) -> np.ndarray:
    """A Gaussian random field with unit standard deviation (float32)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_voxels, truncate=2.5)
    return field / max(float(field.std()), 1e-6)


def _sigma_voxels(canvas: _Canvas, sigma_mm: float) -> tuple[float, float, float]:
    """A physical smoothing length in voxels along (z, y, x)."""
    return (
        sigma_mm / (canvas.z[1] - canvas.z[0]) if len(canvas.z) > 1 else 0.0,
        sigma_mm / (canvas.y[1] - canvas.y[0]),
        sigma_mm / (canvas.x[1] - canvas.x[0]),
    )


def _paint_pancreas(canvas: _Canvas, anatomy: _Anatomy, rng: np.random.Generator) -> None:
    """Union of ellipsoids along the centreline with a lobulated outline and fatty clefts."""
    points, radii = anatomy.pancreas, anatomy.pancreas_radius
    reach = np.array([1.0, 1.0, 1.3]) * radii.max() * 1.3
    low, high = points.min(axis=0) - reach, points.max(axis=0) + reach
    region = canvas.box((low + high) / 2, (high - low) / 2)
    if region is None:
        return
    where, _ = region
    distance = np.full(canvas.hu[where].shape, np.inf, np.float32)
    for point, radius in zip(points, radii):
        sub = canvas.box(point, np.array([1.0, 1.0, 1.3]) * radius * 1.3)
        if sub is None:
            continue
        sub_where, (dz, dy, dx) = sub
        local = tuple(slice(s.start - w.start, s.stop - w.start) for s, w in zip(sub_where, where))
        d = (dx / radius) ** 2 + (dy / radius) ** 2 + (dz / (1.3 * radius)) ** 2
        distance[local] = np.minimum(distance[local], d)
    lobules = _smooth_noise(rng, distance.shape, _sigma_voxels(canvas, 3.0))
    canvas.paint(where, distance < 1 + 0.15 * lobules, "pancreas", TISSUE_HU["pancreas"] + 8 * lobules, ("fat",))


def _paint_liver_lesions(canvas: _Canvas, count: int, rng: np.random.Generator) -> None:
    """Hypodense metastases (4-12 mm radius) centred on random liver voxels."""
    liver = np.flatnonzero(canvas.label == _LABELS["liver"])
    if count == 0 or liver.size == 0:
        return
    for index in rng.choice(liver, size=count):
        k, j, i = np.unravel_index(index, canvas.label.shape)
        radius = rng.uniform(4, 12)
        _ellipsoid(
            canvas,
            (float(canvas.x[i]), float(canvas.y[j]), float(canvas.z[k])),
            (radius, radius, radius),
            "lesion",
            TISSUE_HU["liver_lesion"] + rng.normal(0, 6),
            ("liver",),
        )


def _paint_tumour(
    canvas: _Canvas, row: dict[str, Any], shape: _TumourShape, centre: np.ndarray, rng: np.random.Generator
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Hypo-attenuating textured tumour with a necrotic core, then the fat stranding around it.

    Returns the box it was drawn in and the distance (mm) of each box voxel from the true
    boundary (negative inside), which reader 2's outline perturbs.
    """
    box = canvas.box(centre, np.full(3, shape.reach_mm + 3.0))
    if box is None:  # _place_tumour keeps the tumour inside the scan
        raise ValueError(f"tumour centre {centre} lies outside the scan")
    where, (dz, dy, dx) = box
    rho = np.sqrt(dx**2 + dy**2 + dz**2)
    boundary = shape.radius(dx, dy, dz, rho)
    level = rho - boundary
    texture = _smooth_noise(rng, rho.shape, _sigma_voxels(canvas, 2.5))
    viable = row["attenuation"] + row["heterogeneity"] * texture
    core = row["necrosis_fraction"] ** (1 / 3)
    necrotic = np.clip((core - rho / boundary) / 0.12 + 0.5, 0, 1) if core > 0 else 0.0
    tumour_hu = viable * (1 - necrotic) + (TISSUE_HU["necrosis"] + 4 * texture) * necrotic
    canvas.paint(where, level < 0, "tumour", tumour_hu, _TUMOUR_HOST)
    _paint_stranding(canvas, row["stranding"], shape.radius_mm, centre, rng)
    return where, level


def _paint_stranding(
    canvas: _Canvas, stranding: float, radius_mm: float, centre: np.ndarray, rng: np.random.Generator
) -> None:
    """Hazy fat with radiating streaks, fading with distance from the tumour (fat voxels only)."""
    reach = 6.0 + 16.0 * stranding
    region = canvas.box(centre, np.full(3, radius_mm * 1.3 + reach))
    if region is None:
        return
    where, (dz, dy, dx) = region
    distance = np.sqrt(dx**2 + dy**2 + dz**2) - radius_mm
    shell = (distance < reach) & (canvas.label[where] == _LABELS["fat"])
    streaks = np.cos(rng.integers(5, 10) * np.arctan2(dy, dx) + rng.uniform(0, 2 * np.pi) + 0.05 * dz)
    haze = stranding * np.clip(1 - distance / reach, 0, 1) * (40 + 100 * np.maximum(streaks, 0) ** 6)
    canvas.hu[where][shell] += haze[shell]


def _paint_vessel_contact(
    canvas: _Canvas, anatomy: _Anatomy, row: dict[str, Any], radius_mm: float, centre: np.ndarray
) -> None:
    """Tumour-like soft tissue wrapped round the SMA/SMV over the contact angle (outside the ROI)."""
    for vessel in ("sma", "smv"):
        degrees = row[f"{vessel}_contact_deg"]
        z_low = centre[2] - max(0.8 * radius_mm, 3.0)
        z_high = min(centre[2] + max(0.8 * radius_mm, 3.0), anatomy.vessel_top_z[vessel])
        if degrees <= 0 or z_high <= z_low:
            continue
        axis, outer = anatomy.vessel_xy[vessel], anatomy.vessel_radius[vessel] + CUFF_MM + 1.5
        region = canvas.box(np.r_[axis, (z_low + z_high) / 2], np.array([outer, outer, (z_high - z_low) / 2]))
        if region is None:
            continue
        where, (dz, dy, dx) = region
        towards = np.arctan2(centre[1] - axis[1], centre[0] - axis[0])
        off_axis = np.abs(np.angle(np.exp(1j * (np.arctan2(dy, dx) - towards))))
        ring = (dx**2 + dy**2 < outer**2) & (off_axis <= np.deg2rad(degrees) / 2)
        canvas.paint(
            where,
            np.broadcast_to(ring, canvas.hu[where].shape),
            "cuff",
            row["attenuation"],
            ("fat", "pancreas", "bowel", "organ"),
        )


def _paint_vessels(canvas: _Canvas, anatomy: _Anatomy) -> None:
    """Aorta, IVC, celiac trunk, SMA, SMV, portal and splenic veins (portal-venous enhancement)."""
    at, hu = anatomy.at, TISSUE_HU
    over = (*_SOFT_TISSUE, "tumour", "cuff", "air")
    (ax, ay), (ix, iy) = anatomy.vessel_xy["aorta"], anatomy.vessel_xy["ivc"]
    _ellipsoid(canvas, (ax, ay, 0), (anatomy.vessel_radius["aorta"],) * 2 + (_ENDLESS,), "vessel", hu["aorta"], over)
    _ellipsoid(canvas, (ix, iy, 0), (12, 9, _ENDLESS), "vessel", hu["ivc"], over)
    _tube(canvas, [at(8, 8, 36), at(8, -14, 40)], 3.5, "vessel", hu["sma"], over)
    (sx, sy), (vx, vy) = anatomy.vessel_xy["sma"], anatomy.vessel_xy["smv"]
    sma_top, smv_top = anatomy.vessel_top_z["sma"], anatomy.vessel_top_z["smv"]
    _tube(
        canvas,
        [(sx, sy, -_ENDLESS), (sx, sy, sma_top), at(8, 8, sma_top + 6)],
        anatomy.vessel_radius["sma"],
        "vessel",
        hu["sma"],
        over,
    )
    _tube(
        canvas,
        [(vx, vy, -_ENDLESS), (vx, vy, smv_top), at(-35, -5, 40)],
        anatomy.vessel_radius["smv"],
        "vessel",
        hu["portal_vein"],
        over,
    )
    _tube(
        canvas,
        [(vx, vy, smv_top), at(20, -8, 12), at(55, 2, 12), at(78, 22, 14)],
        4.5,
        "vessel",
        hu["portal_vein"] - 10,
        over,
    )


def _field_of_view(
    spec: CohortSpec, centre_index: int, tumour: np.ndarray, reach_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Origin and spacing (x, y, z) of the scan, moved from the default centre just enough to hold the tumour;
    along an axis where the tumour is larger than the scan (a small test grid), centred on the tumour."""
    pixel = spec.pixel_mm * spec.centre_pixel_scale[centre_index]
    spacing = np.array([pixel, pixel, spec.slice_mm])
    half = (np.array([spec.matrix, spec.matrix, spec.n_slices]) - 1) / 2 * spacing
    # in-plane, the tumour must fit in the reconstruction circle, not only in the square
    margin = reach_mm + np.array([2.0, 2.0, 0.0])
    room = np.array([half[0] / np.sqrt(2), half[1] / np.sqrt(2), half[2]])
    low, high = tumour + margin - room, tumour - margin + room
    centre = np.where(low <= high, np.clip(FOV_CENTRE, low, high), tumour)
    return centre - half, spacing


def _reconstruction_circle(matrix: int) -> np.ndarray:
    """In-plane mask of the scanner's reconstruction circle; voxels outside hold padding."""
    r = np.arange(matrix) - (matrix - 1) / 2
    return r[None, :] ** 2 + r[:, None] ** 2 <= (matrix / 2) ** 2


_SLICE_PROFILE_SIGMA = 0.3  # slices: partial volume of a 5 mm slice with its neighbours


def _noise(shape: tuple[int, ...], sd_hu: float, grain_voxels: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of SD ``sd_hu``, correlated in plane over ``grain_voxels`` (Gaussian SD; 0: white), as
    iterative reconstruction leaves it; scaled by the kernel's own norm, so its SD is ``sd_hu`` whatever the grain."""
    white = rng.standard_normal(shape, dtype=np.float32)
    if grain_voxels <= 0:
        return sd_hu * white
    half = int(np.ceil(4 * grain_voxels))  # gaussian_filter truncates its kernel at 4 SD
    impulse = np.zeros((1, 2 * half + 1, 2 * half + 1), np.float32)
    impulse[0, half, half] = 1.0
    norm = float(np.sqrt((ndimage.gaussian_filter(impulse, (0, grain_voxels, grain_voxels)) ** 2).sum()))
    return (sd_hu / norm) * ndimage.gaussian_filter(white, (0, grain_voxels, grain_voxels))


def _scan(canvas: _Canvas, spec: CohortSpec, centre_index: int, rng: np.random.Generator) -> np.ndarray:
    """The centre's scanner: blur (sharpness and slice profile), HU offset, noise of its SD and grain, padding;
    int16 HU."""
    pixel = canvas.x[1] - canvas.x[0]
    blur = spec.centre_blur_mm[centre_index] / pixel
    hu = ndimage.gaussian_filter(canvas.hu, (_SLICE_PROFILE_SIGMA, blur, blur))
    hu += spec.centre_hu_offset[centre_index]
    grain = spec.centre_noise_grain_mm[centre_index] / pixel
    hu += _noise(hu.shape, spec.centre_noise_sd_hu[centre_index], grain, rng)
    hu[:, ~_reconstruction_circle(spec.matrix)] = TISSUE_HU["padding"]
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def _reader2_mask(
    canvas: _Canvas, where: tuple[slice, ...], level: np.ndarray, boundary_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Reader 2's outline: reader 1's boundary moved by a smooth random shift (mm) plus a bias."""
    shift = boundary_mm * (_smooth_noise(rng, level.shape, _sigma_voxels(canvas, 4.0)) + rng.normal(0, 0.5))
    outline = (level < shift) & _label_lookup((*_SOFT_TISSUE, "tumour", "cuff"))[canvas.label[where]]
    mask = np.zeros(canvas.label.shape, bool)
    mask[where] = outline
    return mask


@dataclass(frozen=True)
class PatientVolumes:
    """One synthetic patient: CT (int16 HU), reader masks and the grid they share."""

    ct: np.ndarray
    reader1: np.ndarray
    reader2: np.ndarray | None
    origin: np.ndarray
    spacing: np.ndarray


def synthesise_patient(spec: CohortSpec, row: dict[str, Any], seeds: list[np.random.SeedSequence]) -> PatientVolumes:
    """Draw one patient's CT and masks from its latent row (seeds: image stream, reader-2 stream)."""
    rng = np.random.default_rng(seeds[0])
    centre_index = 0 if row["centre"] == "C1" else 1
    anatomy = _draw_anatomy(rng)
    shape = _TumourShape.draw(row["diameter_mm"], row["margin_irregularity"], rng)
    centre = _place_tumour(anatomy, row, shape, rng)
    origin, spacing = _field_of_view(spec, centre_index, centre, shape.reach_mm)
    canvas = _Canvas.blank(origin, spacing, (spec.matrix, spec.matrix, spec.n_slices))
    _paint_body(canvas, anatomy)
    _paint_spine_and_muscles(canvas, anatomy)
    _paint_organs(canvas, anatomy, rng)
    _paint_liver_lesions(canvas, int(row["liver_lesions"]), rng)
    where, level = _paint_tumour(canvas, row, shape, centre, rng)
    _paint_vessel_contact(canvas, anatomy, row, shape.radius_mm, centre)
    _paint_vessels(canvas, anatomy)
    circle = _reconstruction_circle(spec.matrix)
    reader1 = (canvas.label == _LABELS["tumour"]) & circle
    reader2 = None
    if row["has_reader2"]:
        reader_rng = np.random.default_rng(seeds[1])
        reader2 = _reader2_mask(canvas, where, level, spec.reader2_boundary_mm, reader_rng) & circle
    return PatientVolumes(_scan(canvas, spec, centre_index, rng), reader1, reader2, origin, spacing)
