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

import matplotlib

matplotlib.use("Agg")  # headless: charts are written to files or served as PNGs

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

VENDOR_COLOURS = {
    "alibaba": "#ff6a00",
    "huawei": "#c7000b",
    "tencent": "#1f77b4",
    "baidu": "#2932e1",
    "aws": "#232f3e",  # AWS "squid ink": Alibaba already has the orange
    "microsoft": "#00a4ef",
    "google": "#34a853",
    "others": "#8c8c8c",
}
_SPARE = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


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
