"""Shared helpers of the pancreatic-cancer radiomics + 3D-DenseNet fusion book."""

__version__ = "0.1.0"
