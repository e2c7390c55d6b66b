"""PyRadiomics against the IBSI-1 reference values on the IBSI digital phantom.

The study extracts its features with PyRadiomics (through 3D Slicer in the paper), whose
definitions are not all those of the Image Biomarker Standardisation Initiative (IBSI,
Zwanenburg et al., Radiology 2020; manual arXiv:1612.07003). This module runs PyRadiomics on
the IBSI-1 digital phantom (5 x 4 x 4 voxels of 2 mm, grey levels 1, 3, 4 and 6, 74 ROI
voxels), pairs every PyRadiomics feature that has a true IBSI counterpart with its reference
value and says, for each one outside the IBSI tolerance, why: book/methods_ibsi.md reports
the result and tests/test_ibsi.py keeps page, mapping and explanations in step.

Matching rule (as the IBSI reference tables are meant to be read, and as Z-Rad's IBSI tests
apply them): a reference with a non-zero tolerance matches when |value - reference| <=
tolerance; the digital-phantom references with tolerance 0 are exact values printed to three
significant digits, so they match when the value, rounded to the reference's significant
digits (at least three), equals the reference.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
from radiomics import featureextractor

PHANTOM_DATASET = "digital phantom"  # the `dataset` value of the phantom's rows in the reference CSV
FEATURE_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")

# PyRadiomics settings that make its computation the one IBSI prescribes for the phantom.
SETTINGS: dict[str, object] = {
    # Fixed bin width 1 from the ROI minimum (1): bin k holds intensity k, so the grey levels stay
    # the phantom's own 1..6 (IBSI: "no discretisation", equivalently FBS 1 or FBN 6).
    "binWidth": 1,
    "resampledPixelSpacing": None,  # no resampling: the phantom is used as is
    "normalize": False,
    "force2D": False,  # 3D: 13 directions for GLCM/GLRLM, 26-neighbourhoods for GLSZM/GLDM/NGTDM
    "distances": [1],  # Chebyshev distance 1, IBSI's delta = 1
    "gldm_a": 0,  # dependence when |i - j| <= 0: IBSI's NGLDM with coarseness alpha = 0
    "symmetricalGLCM": True,  # IBSI counts each voxel pair in both directions
    "weightingNorm": None,  # GLCM/GLRLM features per direction, then averaged: IBSI "3D, averaged"
    "voxelArrayShift": 0,  # Energy and RMS of the raw intensities, as IBSI defines them
    "minimumROIDimensions": 1,  # the ROI passes PyRadiomics' size checks whatever its extent
    "minimumROISize": None,
    "correctMask": False,
    "label": 1,
}

MORPHOLOGY = "Morphology"
STATISTICS = "Statistics"
HISTOGRAM = "Intensity histogram"
GLCM = "Co-occurrence matrix (3D, averaged)"
GLRLM = "Run length matrix (3D, averaged)"
GLSZM = "Size zone matrix (3D)"
NGLDM = "Neighbouring grey level dependence matrix (3D)"
NGTDM = "Neighbourhood grey tone difference matrix (3D)"

# IBSI family -> {IBSI feature: PyRadiomics feature}; only pairs with the same definition (up to
# the documented deviations below). GLCM and GLRLM use IBSI's "3D, averaged" rows because
# PyRadiomics computes each feature on each of the 13 directional matrices and averages them;
# GLSZM, GLDM and NGTDM are single 3D matrices in both. The PyRadiomics first-order features
# map to IBSI "Statistics" (raw intensities) except Entropy and Uniformity, which PyRadiomics
# computes on the discretised histogram ("Intensity histogram"). Three IBSI features
# PyRadiomics removed as mathematically equal to one it keeps are mapped to that one:
# Dissimilarity = Difference Average, Sum variance = Cluster Tendency, and NGLDM normalised
# grey level non-uniformity = first-order Uniformity (every voxel is one dependence zone).
# Not mapped, for want of an IBSI counterpart: firstorder TotalEnergy (Energy times the voxel
# volume), glcm MCC and the three shape Maximum2DDiameter features; PyRadiomics' deprecated
# features (Compactness 1/2, Spherical Disproportion) are not part of the study's extraction.
IBSI_MAPPING: dict[str, dict[str, str]] = {
    MORPHOLOGY: {
        "Volume (mesh)": "shape_MeshVolume",
        "Volume (voxel counting)": "shape_VoxelVolume",
        "Surface area (mesh)": "shape_SurfaceArea",
        "Surface to volume ratio": "shape_SurfaceVolumeRatio",
        "Sphericity": "shape_Sphericity",
        "Maximum 3D diameter": "shape_Maximum3DDiameter",
        "Major axis length": "shape_MajorAxisLength",
        "Minor axis length": "shape_MinorAxisLength",
        "Least axis length": "shape_LeastAxisLength",
        "Elongation": "shape_Elongation",
        "Flatness": "shape_Flatness",
    },
    STATISTICS: {
        "Mean": "firstorder_Mean",
        "Variance": "firstorder_Variance",
        "Skewness": "firstorder_Skewness",
        "(Excess) kurtosis": "firstorder_Kurtosis",
        "Median": "firstorder_Median",
        "Minimum": "firstorder_Minimum",
        "10th percentile": "firstorder_10Percentile",
        "90th percentile": "firstorder_90Percentile",
        "Maximum": "firstorder_Maximum",
        "Interquartile range": "firstorder_InterquartileRange",
        "Range": "firstorder_Range",
        "Mean absolute deviation": "firstorder_MeanAbsoluteDeviation",
        "Robust mean absolute deviation": "firstorder_RobustMeanAbsoluteDeviation",
        "Energy": "firstorder_Energy",
        "Root mean square": "firstorder_RootMeanSquared",
    },
    HISTOGRAM: {
        "Entropy": "firstorder_Entropy",
        "Uniformity": "firstorder_Uniformity",
    },
    GLCM: {
        "Joint maximum": "glcm_MaximumProbability",
        "Joint average": "glcm_JointAverage",
        "Joint variance": "glcm_SumSquares",
        "Joint entropy": "glcm_JointEntropy",
        "Difference average": "glcm_DifferenceAverage",
        "Difference variance": "glcm_DifferenceVariance",
        "Difference entropy": "glcm_DifferenceEntropy",
        "Sum average": "glcm_SumAverage",
        "Sum variance": "glcm_ClusterTendency",
        "Sum entropy": "glcm_SumEntropy",
        "Angular second moment": "glcm_JointEnergy",
        "Contrast": "glcm_Contrast",
        "Dissimilarity": "glcm_DifferenceAverage",
        "Inverse difference": "glcm_Id",
        "Normalised inverse difference": "glcm_Idn",
        "Inverse difference moment": "glcm_Idm",
        "Normalised inverse difference moment": "glcm_Idmn",
        "Inverse variance": "glcm_InverseVariance",
        "Correlation": "glcm_Correlation",
        "Autocorrelation": "glcm_Autocorrelation",
        "Cluster tendency": "glcm_ClusterTendency",
        "Cluster shade": "glcm_ClusterShade",
        "Cluster prominence": "glcm_ClusterProminence",
        "Information correlation 1": "glcm_Imc1",
        "Information correlation 2": "glcm_Imc2",
    },
    GLRLM: {
        "Short runs emphasis": "glrlm_ShortRunEmphasis",
        "Long runs emphasis": "glrlm_LongRunEmphasis",
        "Low grey level run emphasis": "glrlm_LowGrayLevelRunEmphasis",
        "High grey level run emphasis": "glrlm_HighGrayLevelRunEmphasis",
        "Short run low grey level emphasis": "glrlm_ShortRunLowGrayLevelEmphasis",
        "Short run high grey level emphasis": "glrlm_ShortRunHighGrayLevelEmphasis",
        "Long run low grey level emphasis": "glrlm_LongRunLowGrayLevelEmphasis",
        "Long run high grey level emphasis": "glrlm_LongRunHighGrayLevelEmphasis",
        "Grey level non-uniformity": "glrlm_GrayLevelNonUniformity",
        "Normalised grey level non-uniformity": "glrlm_GrayLevelNonUniformityNormalized",
        "Run length non-uniformity": "glrlm_RunLengthNonUniformity",
        "Normalised run length non-uniformity": "glrlm_RunLengthNonUniformityNormalized",
        "Run percentage": "glrlm_RunPercentage",
        "Grey level variance": "glrlm_GrayLevelVariance",
        "Run length variance": "glrlm_RunVariance",
        "Run entropy": "glrlm_RunEntropy",
    },
    GLSZM: {
        "Small zone emphasis": "glszm_SmallAreaEmphasis",
        "Large zone emphasis": "glszm_LargeAreaEmphasis",
        "Low grey level emphasis": "glszm_LowGrayLevelZoneEmphasis",
        "High grey level emphasis": "glszm_HighGrayLevelZoneEmphasis",
        "Small zone low grey level emphasis": "glszm_SmallAreaLowGrayLevelEmphasis",
        "Small zone high grey level emphasis": "glszm_SmallAreaHighGrayLevelEmphasis",
        "Large zone low grey level emphasis": "glszm_LargeAreaLowGrayLevelEmphasis",
        "Large zone high grey level emphasis": "glszm_LargeAreaHighGrayLevelEmphasis",
        "Grey level non-uniformity": "glszm_GrayLevelNonUniformity",
        "Normalised grey level non-uniformity": "glszm_GrayLevelNonUniformityNormalized",
        "Zone size non-uniformity": "glszm_SizeZoneNonUniformity",
        "Normalised zone size non-uniformity": "glszm_SizeZoneNonUniformityNormalized",
        "Zone percentage": "glszm_ZonePercentage",
        "Grey level variance": "glszm_GrayLevelVariance",
        "Zone size variance": "glszm_ZoneVariance",
        "Zone size entropy": "glszm_ZoneEntropy",
    },
    NGLDM: {
        "Low dependence emphasis": "gldm_SmallDependenceEmphasis",
        "High dependence emphasis": "gldm_LargeDependenceEmphasis",
        "Low grey level count emphasis": "gldm_LowGrayLevelEmphasis",
        "High grey level count emphasis": "gldm_HighGrayLevelEmphasis",
        "Low dependence low grey level emphasis": "gldm_SmallDependenceLowGrayLevelEmphasis",
        "Low dependence high grey level emphasis": "gldm_SmallDependenceHighGrayLevelEmphasis",
        "High dependence low grey level emphasis": "gldm_LargeDependenceLowGrayLevelEmphasis",
        "High dependence high grey level emphasis": "gldm_LargeDependenceHighGrayLevelEmphasis",
        "Grey level non-uniformity": "gldm_GrayLevelNonUniformity",
        "Normalised grey level non-uniformity": "firstorder_Uniformity",
        "Dependence count non-uniformity": "gldm_DependenceNonUniformity",
        "Normalised dependence count non-uniformity": "gldm_DependenceNonUniformityNormalized",
        "Grey level variance": "gldm_GrayLevelVariance",
        "Dependence count variance": "gldm_DependenceVariance",
        "Dependence count entropy": "gldm_DependenceEntropy",
    },
    NGTDM: {
        "Coarseness": "ngtdm_Coarseness",
        "Contrast": "ngtdm_Contrast",
        "Busyness": "ngtdm_Busyness",
        "Complexity": "ngtdm_Complexity",
        "Strength": "ngtdm_Strength",
    },
}

# Every mapped PyRadiomics feature outside the IBSI tolerance on the phantom, with the reason,
# each checked by computation (tests/test_ibsi.py); book/methods_ibsi.md lists the same set.
DOCUMENTED_DEVIATIONS: dict[str, str] = {
    "firstorder_Kurtosis": (
        "PyRadiomics reports kurtosis m4/m2^2; IBSI reports excess kurtosis, m4/m2^2 - 3. "
        "PyRadiomics - 3 equals the IBSI value."
    ),
    "shape_MinorAxisLength": (
        "PyRadiomics takes the PCA eigenvalues from the population covariance of the voxel-centre "
        "coordinates (divided by N); the IBSI values follow the sample covariance (N - 1). "
        "Multiplying by sqrt(N/(N - 1)) = sqrt(74/73) gives the IBSI value."
    ),
    "shape_LeastAxisLength": (
        "Same as Minor axis length: population (N) instead of sample (N - 1) covariance; "
        "multiplying by sqrt(74/73) gives the IBSI value."
    ),
}
UNEXPLAINED = "unexplained"


def matches_reference(value: float, reference: str, tolerance: str) -> bool:
    """IBSI agreement: within a non-zero tolerance, or equal after rounding to the reference's significant digits."""
    ref, tol = float(reference), float(tolerance)
    if tol > 0:
        return abs(value - ref) <= tol * (1 + 1e-9)  # slack for floating-point noise on the bound
    digits = Decimal(reference.strip())
    if "." not in reference and "e" not in reference.lower():
        digits = digits.normalize()  # trailing zeros of an integer are place holders: 1490 has 3 digits
    precision = max(3, len(digits.as_tuple().digits))
    return float(f"{value:.{precision}g}") == ref


def extract_phantom(image: Path, mask: Path) -> dict[str, float]:
    """PyRadiomics features of the phantom under SETTINGS, keyed ``<class>_<Feature>`` (no image-type prefix)."""
    extractor = featureextractor.RadiomicsFeatureExtractor(**SETTINGS)
    extractor.disableAllFeatures()
    for feature_class in FEATURE_CLASSES:
        extractor.enableFeatureClassByName(feature_class)  # its non-deprecated features, as the study extracts them
    result = extractor.execute(str(image), str(mask))
    return {key.removeprefix("original_"): float(value) for key, value in result.items() if key.startswith("original_")}


def read_reference(reference_csv: Path) -> pd.DataFrame:
    """The digital phantom's IBSI-1 reference rows, values kept as printed (their digits set the matching rule).

    Columns: the CSV's, all text; IBSI-1's file has dataset, family, feature, consensus, reference value,
    tolerance, your result, difference, check, tag. Index: the CSV's row numbers.
    """
    table = pd.read_csv(reference_csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return table[table["dataset"] == PHANTOM_DATASET]


def phantom_comparison(image: Path, mask: Path, reference_csv: Path) -> pd.DataFrame:
    """One row per mapped IBSI feature: reference, tolerance, PyRadiomics value, agreement and reason.

    Columns: ibsi_family, ibsi_feature, pyradiomics_feature, reference, tolerance, pyradiomics, abs_difference,
    within_tolerance, reason ("" when within tolerance and not documented).
    """
    features = extract_phantom(image, mask)
    table = read_reference(reference_csv)
    reference = dict(zip(zip(table["family"], table["feature"]), zip(table["reference value"], table["tolerance"])))
    rows = []
    for family, pairs in IBSI_MAPPING.items():
        for ibsi_feature, pyradiomics_feature in pairs.items():
            ref, tol = reference[(family, ibsi_feature)]
            value = features[pyradiomics_feature]
            within = matches_reference(value, ref, tol)
            reason = DOCUMENTED_DEVIATIONS.get(pyradiomics_feature, "" if within else UNEXPLAINED)
            rows.append(
                {
                    "ibsi_family": family,
                    "ibsi_feature": ibsi_feature,
                    "pyradiomics_feature": pyradiomics_feature,
                    "reference": float(ref),
                    "tolerance": float(tol),
                    "pyradiomics": value,
                    "abs_difference": abs(value - float(ref)),
                    "within_tolerance": within,
                    "reason": reason,
                }
            )
    return pd.DataFrame(rows)


def family_agreement(comparison: pd.DataFrame) -> pd.DataFrame:
    """Mapped, within-tolerance and deviating feature counts per IBSI family, in mapping order.

    Columns: ibsi_family, mapped, within_tolerance, deviating.
    """
    grouped = comparison.groupby("ibsi_family", sort=False)["within_tolerance"]
    counts = pd.DataFrame({"mapped": grouped.size(), "within_tolerance": grouped.sum()})
    counts["deviating"] = counts["mapped"] - counts["within_tolerance"]
    return counts.reset_index()
