"""Radiomic features: PyRadiomics extraction, inter-reader ICC, IBSI conformance, PCA + Cox-LASSO."""
