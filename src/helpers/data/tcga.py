"""The shared TCGA-PAAD clinical table converted into this project's manifest format."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.data.manifest import DAYS_PER_MONTH


def tcga_paad_manifest(src: Path, dst: Path) -> Path:
    """Write the shared TCGA-PAAD patient table as a clinical-only manifest (OS in months)."""
    table = pd.read_csv(src, dtype=str, keep_default_na=False)
    manifest = pd.DataFrame(
        {
            "patient_id": table["patient_id"],
            "age": table["age_years"],
            "gender": table["sex"],
            # Staging is copied verbatim: read_manifest maps TX/NX/MX to missing and N1b to N1.
            "T": table["ajcc_T"],
            "N": table["ajcc_N"],
            "M": table["ajcc_M"],
            "time_months": pd.to_numeric(table["os_days"], errors="coerce") / DAYS_PER_MONTH,
            "event": table["os_event"],
        }
    )
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(dst, index=False)
    return dst
