"""keliu (客流): privacy-first customer-footfall analytics from ordinary CCTV video."""

__version__ = "0.1.0"
__all__ = ["__version__"]
