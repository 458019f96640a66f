"""Covenant: keep every promise a store's privacy statement makes."""

__version__ = "0.1.0"
