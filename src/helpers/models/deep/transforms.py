"""Preprocessing of the deep model's inputs: reading, the tumour-centred cubes, augmentation, caching."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch
from monai.data import PersistentDataset
from monai.transforms import (
    Compose,
    EnsureTyped,
    MapTransform,
    Resized,
    ScaleIntensityRanged,
    SelectItemsd,
)
from tqdm import tqdm

from helpers.data.images import read_image
from helpers.data.masks import read_mask
from helpers.models.deep.config import INPUT_KEYS, PREPROCESSING_VERSION, DeepConfig
from helpers.pipeline.files import json_digest

# ----------------------------------------------------------------------------- preprocessing


class ReadCased(MapTransform):
    """Read a case's CT (HU) and tumour mask with helpers.data, reoriented to LPS, as (1, z, y, x) arrays."""

    def __init__(self) -> None:
        """Reads the paths under "image" and "mask" (with "mask_label" / "segment" if given)."""
        super().__init__(keys=("image", "mask"))

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """Replace the paths by arrays and add "spacing" (mm, z y x)."""
        item = dict(data)
        image = read_image(Path(item["image"]))
        mask = read_mask(Path(item["mask"]), label=item.get("mask_label"), segment=item.get("segment"), reference=image)
        image, mask = (sitk.DICOMOrient(volume, "LPS") for volume in (image, mask))
        item["image"] = sitk.GetArrayFromImage(image).astype(np.float32)[None]
        item["mask"] = sitk.GetArrayFromImage(mask)[None]
        item["spacing"] = np.array(image.GetSpacing()[::-1], dtype=float)
        return item


def _cube_around(image: np.ndarray, spacing: np.ndarray, centre: np.ndarray, side_mm: float) -> np.ndarray:
    """The voxels of a cube of ``side_mm`` centred on ``centre`` (voxel coordinates), zero-padded outside the scan."""
    half = side_mm / spacing / 2
    start = np.floor(centre - half + 0.5).astype(int)
    stop = start + np.maximum(np.round(2 * half).astype(int), 1)
    before, after = np.maximum(-start, 0), np.maximum(stop - np.array(image.shape), 0)
    padded = np.pad(image, list(zip(before, after)), constant_values=0.0)
    return padded[tuple(slice(a + b, c + b) for a, c, b in zip(start, stop, before))]


class TumourCubed(MapTransform):
    """Add "roi": the image inside a mm cube around the mask's bounding box plus ``margin_mm``; optionally
    replace "image" by a fixed ``field_mm`` cube centred on the tumour (the context around the pancreas)."""

    def __init__(self, margin_mm: float, field_mm: float | None = None) -> None:
        """Crops "image" around "mask" using "spacing"."""
        super().__init__(keys=("image",))
        self.margin_mm = margin_mm
        self.field_mm = field_mm

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """The ROI cube's side is the box's longest extent + 2 margins, in mm, on every axis."""
        item = dict(data)
        spacing = item["spacing"]
        inside = np.argwhere(np.asarray(item["mask"])[0] > 0)
        low, high = inside.min(axis=0), inside.max(axis=0)
        centre = (low + high) / 2
        image = np.asarray(item["image"])[0]
        side_mm = np.max((high - low + 1) * spacing) + 2 * self.margin_mm
        item["roi"] = _cube_around(image, spacing, centre, side_mm)[None]
        if self.field_mm is not None:
            item["image"] = _cube_around(image, spacing, centre, self.field_mm)[None]
        return item


def case_transforms(config: DeepConfig) -> Compose:
    """The deterministic preprocessing, whose output is cached; augmentation happens later, on whole batches
    (``augment_batch``)."""
    low, high = config.window_hu
    size = (config.input_size,) * 3
    return Compose(
        [
            ReadCased(),
            ScaleIntensityRanged(keys="image", a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True),
            TumourCubed(config.roi_margin_mm, config.field_of_view_mm),
            SelectItemsd(keys=INPUT_KEYS),
            Resized(keys=INPUT_KEYS, spatial_size=size, mode="trilinear", anti_aliasing=config.anti_aliasing),
            EnsureTyped(keys=INPUT_KEYS, dtype=torch.float32, track_meta=False),
        ]
    )


def case_items(cases: pd.DataFrame) -> list[dict[str, Any]]:
    """One MONAI data dict per case (index = patient_id), stamped with each file's size and mtime for the cache."""
    missing = {"image", "mask"} - set(cases.columns)
    if missing:
        raise ValueError(f"cases need the columns image and mask (missing: {sorted(missing)})")

    def stamp(path: str) -> str:
        status = os.stat(path)
        return f"{status.st_size}:{status.st_mtime_ns}"

    def given(row: pd.Series, column: str) -> Any:
        value = row.get(column)
        return None if value is None or pd.isna(value) else value

    return [
        {
            "image": str(row["image"]),
            "mask": str(row["mask"]),
            "mask_label": None if given(row, "mask_label") is None else int(row["mask_label"]),
            "segment": given(row, "segment"),
            "stamp": f"{stamp(row['image'])}|{stamp(row['mask'])}",
        }
        for _, row in cases.iterrows()
    ]


def _cache_folder(cache_dir: Path, config: DeepConfig) -> Path:
    """Subfolder of ``cache_dir`` for these preprocessing settings (another window or size = another folder)."""
    settings = {
        "version": PREPROCESSING_VERSION,
        "input_size": config.input_size,
        "window_hu": list(config.window_hu),
        "roi_margin_mm": config.roi_margin_mm,
        "field_of_view_mm": config.field_of_view_mm,
        "anti_aliasing": config.anti_aliasing,
    }
    return Path(cache_dir) / f"preprocessed-{json_digest(settings)[:12]}"


def cached_dataset(cases: pd.DataFrame, config: DeepConfig, cache_dir: Path) -> PersistentDataset:
    """Cases as a disk-cached MONAI dataset of their preprocessed inputs."""
    return PersistentDataset(case_items(cases), case_transforms(config), cache_dir=_cache_folder(cache_dir, config))


def cache_cases(cases: pd.DataFrame, config: DeepConfig, cache_dir: Path, progress: bool = True) -> None:
    """Preprocess every case once into the cache (already cached cases are skipped), so epochs only load.

    Cases are preprocessed in parallel worker processes (one per core): reading and resizing
    dominate, and MONAI writes each cache file under a temporary name before moving it into
    place, so workers never see a half-written entry.
    """
    unique = cases[~cases.index.duplicated()]
    dataset = cached_dataset(unique, config, cache_dir)
    workers = min(os.cpu_count() or 1, len(dataset)) if len(dataset) > 1 else 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=_discard)
    for _ in tqdm(loader, total=len(dataset), desc="preprocess", unit="case", disable=not progress):
        pass


def _discard(batch: list[Any]) -> None:
    """Collate nothing: caching only needs each item computed once (module level, so workers can pickle it)."""
    return None


@dataclass(frozen=True)
class CaseTensors:
    """Every case's preprocessed inputs held in memory as two stacked tensors, in the order of ``ids``.

    Small (880 cases x 2 inputs x 32³ floats = 230 MB; 7 GB at 96³), they make an epoch a loop over
    index batches: no disk reads, no per-sample dictionaries, no collation.
    """

    ids: list[str]
    image: torch.Tensor  # (n, 1, S, S, S) float32, the whole-image input
    roi: torch.Tensor  # (n, 1, S, S, S) float32, the tumour-region input

    def __len__(self) -> int:
        """Number of cases."""
        return len(self.ids)

    def to(self, device: torch.device) -> CaseTensors:
        """The same cases on ``device``: on a GPU the training inputs live there, so batches never cross the bus."""
        return CaseTensors(self.ids, self.image.to(device), self.roi.to(device))


def load_case_tensors(cases: pd.DataFrame, config: DeepConfig, cache_dir: Path) -> CaseTensors:
    """The cached preprocessing (``cache_cases`` first) of ``cases`` (index patient_id) stacked in memory."""
    dataset = cached_dataset(cases, config, cache_dir)
    items = [dataset[index] for index in range(len(dataset))]
    if not items:
        raise ValueError("no cases to load")
    image = torch.stack([torch.as_tensor(item["image"], dtype=torch.float32) for item in items])
    roi = torch.stack([torch.as_tensor(item["roi"], dtype=torch.float32) for item in items])
    return CaseTensors([str(patient) for patient in cases.index], image, roi)


def augment_batch(
    image: torch.Tensor,
    roi: torch.Tensor,
    generator: torch.Generator,
    noise_std: float,
    noise_generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's augmentation on a whole batch (B, 1, z, y, x), drawn from ``generator``: per case, with
    probability 0.5 each, a rotation by 90°, 180° or 270° in the axial (y, x) plane and a flip along each axis,
    the same for both inputs; and, per input, Gaussian noise with an SD drawn uniformly from [0, noise_std]
    (MONAI's RandRotate90d, RandFlipd and RandGaussianNoised settings). The noise itself comes from
    ``noise_generator`` when given (a generator on the batch's device: a GPU draws it where the batch is)."""
    n, device = image.shape[0], image.device
    draws = torch.rand((n, 6), generator=generator).to(device)  # rotate, flip z/y/x, noise image, noise roi
    turns = torch.randint(1, 4, (n,), generator=generator).to(device)
    scales = (torch.rand((n, 2), generator=generator) * noise_std).to(device)
    both = torch.stack((image, roi), dim=1)  # (B, 2, 1, z, y, x): one spatial transform for the two inputs
    rotate = draws[:, 0] < 0.5
    for k in (1, 2, 3):
        chosen = rotate & (turns == k)
        if chosen.any():
            both[chosen] = torch.rot90(both[chosen], k, dims=(4, 5))
    for case in range(n):
        axes = [2 + axis for axis in range(3) if draws[case, 1 + axis] < 0.5]  # z, y, x of (2, 1, z, y, x)
        if axes:
            both[case] = both[case].flip(axes)
    for which in range(2):
        noised = torch.nonzero(draws[:, 4 + which] < 0.5).flatten()
        if len(noised):
            noise = torch.randn((len(noised), *image.shape[1:]), generator=noise_generator or generator, device=device)
            both[noised, which] += noise * scales[noised, which].view(-1, 1, 1, 1, 1)
    return both[:, 0], both[:, 1]


# ----------------------------------------------------------------------------- notebook steps


def example_inputs(cases: pd.DataFrame, config: DeepConfig) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(patient id, whole-image input, ROI input) as the network sees them (eval preprocessing, no augmentation)."""
    transform = case_transforms(config)
    examples = []
    for patient_id, item in zip(cases.index, case_items(cases)):
        out = transform(item)
        examples.append((str(patient_id), out["image"][0].numpy(), out["roi"][0].numpy()))
    return examples
