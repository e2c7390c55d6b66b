"""No real identifier reaches the book: a cohort whose ids, file names and DICOM tags look real
is run through every notebook and the book build, and every built file is searched for them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from helpers.features import radiomics
from helpers.pipeline.book import build_book
from helpers.pipeline.runner import main as run_main
from helpers.synthetic.spec import CohortSpec
from helpers.synthetic.writer import generate_cohort

ROOT = Path(__file__).resolve().parents[1]

N_PATIENTS = 80  # the smoke cohort's size: 40 leaves too few survivors in the test split for DeLong's test
NAMED_IDS = ["PANC-0001-JohnDoe", "MRN12345678"]
DICOM_PATIENT = 2  # row of the case stored as a DICOM series
DICOM_TAGS = {"0010|0010": "Roe^Richard^Q", "0010|0020": "MRN87654321", "0008|0080": "St Elsewhere Hospital"}
IN_SILICO_KEYS = ("name", "cohort_source", "n_patients", "image_matrix", "image_slices", "n_reader2")


def real_looking_ids() -> list[str]:
    """Ids in the shapes real exports use: name-bearing study codes and MRNs."""
    generated = [
        f"PANC-{i:04d}-Patient{chr(65 + i % 26)}{i}" if i % 2 else f"MRN{90000000 + 7919 * i}"
        for i in range(len(NAMED_IDS) + 1, N_PATIENTS + 1)
    ]
    return NAMED_IDS + generated


def write_dicom_series(image: sitk.Image, folder: Path, tags: dict[str, str]) -> None:
    """Write a volume as a DICOM series, one file per slice, carrying the given patient tags."""
    folder.mkdir(parents=True)
    cosines = image.GetDirection()
    orientation = "\\".join(
        f"{v:.6f}" for v in (cosines[0], cosines[3], cosines[6], cosines[1], cosines[4], cosines[7])
    )
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(image.GetDepth()):
        plane = image[:, :, z]
        position = image.TransformIndexToPhysicalPoint((0, 0, z))
        for key, value in {
            **tags,
            "0008|0060": "CT",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.7.1",
            "0020|000e": "1.2.826.0.1.3680043.2.1125.7.2",
            "0020|0013": str(z + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": orientation,
            "0018|0050": f"{image.GetSpacing()[2]:.6f}",
        }.items():
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice_{z:03d}.dcm"))
        writer.Execute(plane)


def hospital_export(source: Path, export: Path) -> Path:
    """Rewrite an in-silico cohort as a hospital export: real-looking ids in the manifest and every file name."""
    manifest = pd.read_csv(source / "manifest.csv", dtype=str, keep_default_na=False)
    ids = real_looking_ids()
    for folder in ("images", "masks", "dicom"):
        (export / folder).mkdir(parents=True)
    for row, pid in zip(manifest.itertuples(), ids):
        if row.Index == DICOM_PATIENT:
            write_dicom_series(sitk.ReadImage(str(source / row.image)), export / "dicom" / pid, DICOM_TAGS)
            manifest.at[row.Index, "image"] = f"dicom/{pid}"
        else:
            manifest.at[row.Index, "image"] = f"images/{pid}_CT.nii.gz"
            (export / manifest.at[row.Index, "image"]).write_bytes((source / row.image).read_bytes())
        for column, suffix in (("mask", "seg"), ("mask_reader2", "seg_reader2")):
            if getattr(row, column):
                manifest.at[row.Index, column] = f"masks/{pid}_{suffix}.nii.gz"
                (export / manifest.at[row.Index, column]).write_bytes((source / getattr(row, column)).read_bytes())
    manifest["patient_id"] = ids
    manifest.to_csv(export / "manifest.csv", index=False)
    return export / "manifest.csv"


@pytest.fixture(scope="module")
def private_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The export's manifest, the run directory and the built HTML of a run on the export."""
    base = tmp_path_factory.mktemp("privacy")
    source = generate_cohort(
        base / "insilico",
        CohortSpec(n_patients=N_PATIENTS, matrix=96, n_slices=12, n_reader2=12, seed=7),
        n_jobs=2,
        progress=False,
    ).parent
    manifest = hospital_export(source, base / "St-Elsewhere_PANC-0001-JohnDoe_export")
    smoke = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text(encoding="utf-8"))
    profile = {key: value for key, value in smoke.items() if key not in IN_SILICO_KEYS}
    profile.update(name="private", cohort_source="manifest", manifest=str(manifest), check_images=True)
    (base / "private.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    run_dir = base / "run"
    assert run_main([str(base / "private.yaml"), "--no-book", "--run-dir", str(run_dir)]) == 0
    return manifest, run_dir, build_book(ROOT, run_dir, base / "book")


@pytest.mark.slow
def test_the_run_read_the_real_looking_cohort(private_run):
    manifest, run_dir, _ = private_run
    id_map = pd.read_parquet(run_dir / "private" / "id_map.parquet")
    assert id_map["original_id"].tolist() == real_looking_ids()
    cohort = pd.read_parquet(run_dir / "cohort.parquet")
    assert cohort["patient_id"].str.fullmatch(r"PT-[0-9a-f]{8}").all() and len(cohort) == N_PATIENTS
    assert Path(cohort["image"].iloc[DICOM_PATIENT]).is_dir()  # the DICOM case went through as a series
    executed = (run_dir / "notebooks" / "01_cohort.ipynb").read_text(encoding="utf-8")
    assert str(manifest) in executed  # the run's own copy has the path: the book must not


@pytest.mark.slow
def test_no_identifier_path_or_dicom_tag_reaches_the_built_book(private_run):
    manifest, _, html = private_run
    secrets = [
        s.lower() for s in (*real_looking_ids(), *DICOM_TAGS.values(), str(manifest.parent), manifest.parent.name)
    ]
    files = [p for p in html.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and (html / "searchindex.js").exists()
    leaks = []
    for path in files:  # case-insensitive: page anchors and search terms are lower-cased
        text = (str(path.relative_to(html)) + "\n" + path.read_bytes().decode("utf-8", errors="replace")).lower()
        leaks += [(str(path.relative_to(html)), secret) for secret in secrets if secret in text]
    assert leaks == []
    page = (html / "book" / "notebooks" / "01_cohort.html").read_text(encoding="utf-8")
    assert "Table 1" in page and "injected-parameters" not in page  # the parameter cells are left out of the page
    source = next(p for p in files if p.name == "01_cohort.ipynb").read_text(encoding="utf-8")
    assert "<not published>" in source  # the downloadable notebook keeps them, scrubbed


def test_extraction_failures_are_shown_without_file_paths():
    export = "/data/St Elsewhere/PANC-0001-JohnDoe"
    failures = pd.DataFrame(
        [
            {
                "patient_id": "PT-0a1b2c3d",
                "reader": "reader1",
                "image": f"{export}/dicom",
                "mask": f"{export}/seg.nii.gz",
                "error": f"ValueError: {export}/seg.nii.gz: the mask is empty; {export}/dicom/slice_003.dcm unreadable",
            }
        ]
    )
    shown = radiomics.failures_without_paths(failures)
    assert shown.to_dict("records") == [
        {
            "patient_id": "PT-0a1b2c3d",
            "reader": "reader1",
            "error": "ValueError: <mask>: the mask is empty; <image> unreadable",
        }
    ]
    assert list(radiomics.failures_without_paths(failures.iloc[:0]).columns) == ["patient_id", "reader", "error"]
