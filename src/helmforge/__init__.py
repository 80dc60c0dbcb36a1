"""helmforge: governed Helm charts at fleet scale."""

__all__ = ["__version__"]

__version__ = "0.1.0"
