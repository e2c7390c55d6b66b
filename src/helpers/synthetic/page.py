"""The in-silico cohort page's tables of constants, generated from ``CohortSpec`` so the page cannot drift.

``book/data_insilico.md`` includes ``book/insilico_spec.md``: the cohort's size and marginal shares,
the sizes of the reference populations, the log hazard ratios of the true model, the survival and
censoring constants and the two scanners, each value read from the default spec or the module
that uses it. ``python -m helpers.synthetic.page`` rewrites the fragment; ``--check`` only
compares it (a test fails when the two disagree).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from helpers.pipeline.files import repo_root, write_generated_page
from helpers.synthetic.ceilings import REFERENCE_PATIENTS
from helpers.synthetic.clinical import REFERENCE_DRAWS
from helpers.synthetic.spec import CohortSpec

PAGE_PATH = Path("book/insilico_spec.md")
REGENERATE = ".venv/bin/python -m helpers.synthetic.page"
# (part, term, spec field, index into a tuple field or None)
TERMS: tuple[tuple[str, str, str, int | None], ...] = (
    ("clinical", "T2 vs T1", "log_hr_t_stage", 1),
    ("clinical", "T3 vs T1", "log_hr_t_stage", 2),
    ("clinical", "T4 vs T1", "log_hr_t_stage", 3),
    ("clinical", "N1 vs N0", "log_hr_n_stage", 1),
    ("clinical", "N2 vs N0", "log_hr_n_stage", 2),
    ("clinical", "M1 vs M0", "log_hr_m1", None),
    ("clinical", "per decade of age above 68", "log_hr_age_per_decade", None),
    ("ROI", "per doubling of the diameter above 30 mm", "log_hr_size_per_doubling", None),
    ("ROI", "per 10 HU of attenuation below 70 HU", "log_hr_hypoattenuation_per_10hu", None),
    ("ROI", "per 10 HU of texture SD above 12 HU", "log_hr_heterogeneity_per_10hu", None),
    ("ROI", "per 10 percentage points of necrosis", "log_hr_necrosis_per_10pct", None),
    ("ROI", "margin irregularity, 0 to 1", "log_hr_margin_irregularity", None),
    ("context", "per 90° of SMA contact", "log_hr_sma_contact_per_90deg", None),
    ("context", "per 90° of SMV contact", "log_hr_smv_contact_per_90deg", None),
    ("context", "fat stranding, 0 to 1", "log_hr_stranding", None),
    ("context", "per doubling of (1 + liver lesions)", "log_hr_liver_lesion_doubling", None),
)
# (what the value sets, spec field or fields, joined by " to " when a window, else ", "): the cohort's size and
# the marginals its draws aim at
COHORT = (
    ("patients", "n_patients"),
    ("share of each centre (C1, C2)", "centre_fractions"),
    ("patients outlined by a second reader", "n_reader2"),
    ("share of men", "male_fraction"),
    ("age: mean, SD (years)", ("age_mean", "age_sd")),
    ("T1 / T2 / T3 / T4 shares", "t_stage_fractions"),
    ("N0 / N1 / N2 shares", "n_stage_fractions"),
    ("share of M1", "m1_fraction"),
    ("share of pancreatic-head tumours", "head_fraction"),
    ("diagnosis window", ("diagnosis_start", "diagnosis_end")),
    ("end of follow-up (administrative censoring)", "censor_date"),
)
SURVIVAL = (
    ("Weibull scale of the reference patient", "baseline_scale_months", "months"),
    ("Weibull shape", "weibull_shape", ""),
    ("frailty SD", "frailty_sd", "log hazard"),
    ("accrual decay: diagnosis dates Beta(1, decay) over the window", "accrual_decay", ""),
    ("loss to follow-up", "loss_to_follow_up_per_year", "per year"),
)


def _value(spec: CohortSpec, field: str, index: int | None) -> float:
    value = getattr(spec, field)
    return float(value[index] if index is not None else value)


def _shown(value: object) -> str:
    """A spec value as the page prints it: shares to two decimals, tuples joined by " / "."""
    if isinstance(value, tuple):
        return " / ".join(_shown(v) for v in value)
    return f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def cohort_rows(spec: CohortSpec) -> list[str]:
    """The cohort table's rows: what a value sets, its spec field(s), its value; then the reference populations."""
    rows = []
    for label, fields in COHORT:
        names = fields if isinstance(fields, tuple) else (fields,)
        value = (" to " if "window" in label else ", ").join(_shown(getattr(spec, name)) for name in names)
        rows.append(f"| {label} | {', '.join(f'`{name}`' for name in names)} | {value} |")
    rows.append(
        f"| reference draw of the category cut-offs | `clinical.REFERENCE_DRAWS` | {REFERENCE_DRAWS:,} patients |"
    )
    rows.append(
        f"| reference population of the ceilings | `ceilings.REFERENCE_PATIENTS` | {REFERENCE_PATIENTS:,} patients |"
    )
    return rows


def render(spec: CohortSpec | None = None) -> str:
    """The fragment: the cohort table, the coefficient table, the survival constants and the scanner table."""
    spec = spec or CohortSpec()
    lines = [
        f"% Generated from helpers.synthetic.spec.CohortSpec by `{REGENERATE}`: edit the spec, not this file.",
        "",
        "| cohort | spec field | value |",
        "|---|---|---|",
        *cohort_rows(spec),
        "",
        "| part | term | spec field | log hazard ratio | hazard ratio |",
        "|---|---|---|---|---|",
    ]
    for part, term, field, index in TERMS:
        value = _value(spec, field, index)
        name = f"{field}[{index}]" if index is not None else field
        lines.append(f"| {part} | {term} | `{name}` | {value:.2f} | {np.exp(value):.2f} |")
    lines += ["", "| survival and censoring | spec field | value |", "|---|---|---|"]
    for label, field, unit in SURVIVAL:
        lines.append(f"| {label} | `{field}` | {_value(spec, field, None):g}{' ' + unit if unit else ''} |")
    lines += [
        "",
        "| centre | pixel spacing | noise SD | noise grain SD | blur SD | HU offset |",
        "|---|---|---|---|---|---|",
    ]
    for i, centre in enumerate(("C1", "C2")):
        lines.append(
            f"| {centre} | {spec.pixel_mm * spec.centre_pixel_scale[i]:.2f} mm | {spec.centre_noise_sd_hu[i]:g} HU "
            f"| {spec.centre_noise_grain_mm[i]:g} mm | {spec.centre_blur_mm[i]:g} mm | {spec.centre_hu_offset[i]:+g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the fragment (``--check``: exit 1 if the committed one is stale)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.synthetic.page", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed fragment is up to date")
    args = parser.parse_args(argv)
    return write_generated_page(repo_root(), PAGE_PATH, render(), REGENERATE, args.check)


if __name__ == "__main__":
    raise SystemExit(main())
