"""The plotting backend: every chart of this package is drawn headless, with Agg.

Charts are written to files (the CLI, the store's plots, calibration and discovery
figures) or served as PNGs (the page), never shown in a window, so the backend is chosen
here, once, before pyplot loads. Importing this module is that choice; ``pyplot`` is
matplotlib's pyplot on it.

Example
-------
>>> from cloudmarket.model.plot_backend import pyplot
>>> pyplot.get_backend().lower()
'agg'
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as pyplot  # noqa: E402  (after the backend is chosen)

__all__ = ["pyplot"]
