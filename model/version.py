"""The installed package's version, read once from its metadata.

A leaf module (nothing of ours imported), so the package root, the command line and
the run records all read one version without importing each other.

Example
-------
>>> from cloudmarket.model.version import __version__
>>> __version__ == "0+unknown" or __version__[0].isdigit()
True
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("cloudmarket")
except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
