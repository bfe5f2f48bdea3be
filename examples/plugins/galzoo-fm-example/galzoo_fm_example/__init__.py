"""An example galzoo_fm plugin package."""

__version__ = "0.1.0"
