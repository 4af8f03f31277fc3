"""Matplotlib charts of market runs, and the one vendor colour map used everywhere.

The CLI (`--plot`), the browser page and the notebooks all draw with these colours, so a
vendor looks the same in every picture.

Example
-------
>>> vendor_colour("huawei")
'#c7000b'
>>> vendor_colour("someone-new").startswith("#")
True
"""

from __future__ import annotations

import pandas as pd

from cloudmarket.model.plot_backend import pyplot as plt  # headless: charts go to files or PNGs

# Every pair of colours here (spares included) is at least MIN_COLOUR_DISTANCE apart in
# CIELAB, so no two vendors read alike (Tencent, Baidu and AWS were once three blues).
# Brand colours where they do not clash: AWS's orange is Alibaba's, so AWS takes gold.
VENDOR_COLOURS = {
    "alibaba": "#ff6a00",  # orange
    "huawei": "#c7000b",  # red
    "tencent": "#1f77b4",  # blue
    "baidu": "#7b3fbf",  # violet
    "aws": "#b8860b",  # dark gold
    "microsoft": "#00b4c8",  # cyan
    "google": "#2ca02c",  # green
    "others": "#8c8c8c",  # grey: not one firm
}
_SPARE = ("#e377c2", "#8c564b", "#000000", "#bcbd22", "#1b1f6b")  # pink, brown, black, olive, indigo
MIN_COLOUR_DISTANCE = 25.0  # CIE76 delta E; about 2.3 is the smallest difference an eye can see


def colour_distance(a: str, b: str) -> float:
    """Perceptual distance of two colours (CIE76 delta E in CIELAB, D65 white).

    >>> round(colour_distance("#000000", "#ffffff"))
    100
    """
    import numpy as np
    from matplotlib.colors import to_rgb

    def lab(colour: str):
        rgb = np.array(to_rgb(colour))
        rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
        xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
        f = np.cbrt(xyz / np.array([0.95047, 1.0, 1.08883]))
        f = np.where(xyz / np.array([0.95047, 1.0, 1.08883]) > 0.008856, f,
                     7.787 * xyz / np.array([0.95047, 1.0, 1.08883]) + 16 / 116)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    return float(np.linalg.norm(lab(a) - lab(b)))


def vendor_colour(vendor: str) -> str:
    """Hex colour of a vendor (a stable spare colour for names not in the map)."""
    if vendor in VENDOR_COLOURS:
        return VENDOR_COLOURS[vendor]
    return _SPARE[sum(map(ord, vendor)) % len(_SPARE)]


def plot_shares(vendors: pd.DataFrame, market: pd.DataFrame | None = None, title: str = "",
                column: str = "spend_share", ax=None):
    """Share over time per vendor (percent), with HHI on a second panel if ``market`` is given.

    Returns the matplotlib Figure.
    """
    if ax is None:
        nrows = 2 if market is not None else 1
        fig, axes = plt.subplots(nrows, 1, figsize=(9, 3.2 * nrows + 0.6), sharex=True, squeeze=False)
        ax, ax_hhi = axes[0, 0], (axes[1, 0] if market is not None else None)
    else:
        fig, ax_hhi = ax.figure, None
    for vendor, rows in vendors.groupby("vendor", sort=False):
        ax.plot(rows.step, 100 * rows[column], label=vendor, color=vendor_colour(vendor), lw=2)
    label = "spend" if column == "spend_share" else "customers"
    ax.set_ylabel(f"share of {label} (%)")
    ax.set_title(title or f"Vendor share of {label} by quarter")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="vendor")
    ax.grid(alpha=0.3)
    if ax_hhi is not None:
        ax_hhi.plot(market.step, market.hhi, color="black", lw=2, label="HHI")
        ax_hhi.set_ylabel("HHI (0-10,000)")
        ax_hhi.set_title("Market concentration")
        ax_hhi.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax_hhi.grid(alpha=0.3)
        ax_hhi.set_xlabel("quarter (step 0 = 2020Q3)")
    else:
        ax.set_xlabel("quarter (step 0 = 2020Q3)")
    fig.tight_layout()
    return fig


# Ink for what is not a vendor, so that every picture takes all its colours from here.
MARKET_COLOUR = "black"  # market-wide series such as HHI (as in plot_shares)
CHURN_COLOUR = "#555555"  # churn, the share of customers switching
LINK_COLOUR = "#b0b0b0"  # links of the industry graph
LABEL_COLOUR = "#444444"  # annotations such as industry names
PROSPECT_COLOUR = "#dddddd"  # firms not on the cloud yet
