"""Checkout shim: ``solara run app.py`` serves the page of ``cloudmarket.app``.

The page lives in the package (``cloudmarket/app.py``) so an installed wheel can serve it
too (``cloudmarket viz``); this file only lets a source checkout keep the usual command.
"""

from cloudmarket.app import *  # noqa: F403  (solara looks for `Page` / `page` here)
from cloudmarket.app import Page  # noqa: F401
