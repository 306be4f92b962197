"""The one place the version is written: setup.py reads it without importing the package."""

__all__ = ["__version__"]

__version__ = "0.2.0.dev0"
