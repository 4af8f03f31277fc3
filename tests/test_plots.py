"""Charts that fit the design: grid lines by colour and style, parameter space for LHS; vendor colours."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex

from cloudmarket.experiments import load_results
from cloudmarket.experiments.cli import main
from cloudmarket.experiments.plots import final_by_point, plot_grid_lines, plot_parameter_space
from cloudmarket.model.charts import _SPARE, MIN_COLOUR_DISTANCE, VENDOR_COLOURS, colour_distance, vendor_colour

GRID = """
[experiment]
name = "grid"
steps = 4
replications = {reps}
seed = 2
[parameters]
n_customers = 150
domestic_subsidy = 0.1
[sweep]
design = "grid"
[sweep.values]
export_control_severity = [0.0, 0.5, 1.0]
switching_cost = [1.0, 3.0]
"""

LHS = """
[experiment]
name = "lhs"
steps = 4
replications = 1
seed = 3
[parameters]
n_customers = 150
peer_weight = 2.0
[sweep]
design = "lhs"
samples = 24
[sweep.ranges]
export_control_severity = [0.0, 1.0]
switching_cost = [0.5, 5.0]
domestic_subsidy = [0.0, 0.5]
"""


def _store(tmp_path_factory, text: str, name: str) -> Path:
    tmp = tmp_path_factory.mktemp(name)
    (tmp / "spec.toml").write_text(textwrap.dedent(text))
    assert main(["sweep", str(tmp / "spec.toml"), "--out", str(tmp / "store"), "--backend", "serial", "--quiet"]) == 0
    return tmp / "store"


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory):
    return _store(tmp_path_factory, GRID.format(reps=3), "grid")


@pytest.fixture(scope="module")
def lhs_store(tmp_path_factory):
    return _store(tmp_path_factory, LHS, "lhs")


def test_every_vendor_colour_is_clearly_distinct():
    colours = list(VENDOR_COLOURS.values()) + list(_SPARE)
    for a, b in itertools.combinations(colours, 2):
        assert colour_distance(a, b) >= MIN_COLOUR_DISTANCE, (a, b)
    assert vendor_colour("newcomer") == vendor_colour("newcomer") and vendor_colour("newcomer") in _SPARE


def test_grid_lines_take_colour_from_the_first_lever_and_style_from_the_second(grid_store, artifacts_dir):
    fig = plot_grid_lines(load_results(grid_store), "huawei")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines()]
    assert len(lines) == 3 * 2
    colours = {to_hex(ln.get_color()) for ln in lines}
    styles = {ln.get_linestyle() for ln in lines}
    assert len(colours) == 3 and len(styles) == 2
    assert all(colour_distance(a, b) > 15 for a, b in itertools.combinations(colours, 2))
    legend = [t.get_text().strip() for t in ax.get_legend().get_texts()]
    assert legend == ["colour: export_control_severity", "0", "0.5", "1", "line style: switching_cost", "1", "3"]
    title = " ".join(ax.get_title().split())
    assert "n_customers=150" in title and "domestic_subsidy=0.1" in title  # the levers that were set
    assert "bands: 95% CI" in title and len(ax.collections) == 6
    for band in ax.collections:  # shares: bands stay within [0, 100] %
        ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert ys.min() >= 0 and ys.max() <= 100
    fig.savefig(artifacts_dir / "plot_grid.png", dpi=90)


def test_grid_lines_with_two_replications_say_there_is_no_band(tmp_path_factory):
    store = _store(tmp_path_factory, GRID.format(reps=2), "grid2")
    ax = plot_grid_lines(load_results(store), "huawei").axes[0]
    title = " ".join(ax.get_title().split())  # wrapped lines joined
    assert "no 95% bands: fewer than 3 runs per line" in title and not ax.collections


def test_lhs_store_gets_parameter_space_and_partial_dependence(lhs_store, tmp_path, artifacts_dir):
    r = load_results(lhs_store)
    fig = plot_parameter_space(r, "spend_share:huawei")
    scatter = fig.axes[0].collections[0]
    points = final_by_point(r, "spend_share:huawei")
    assert np.allclose(scatter.get_array(), 100 * points.value)  # coloured by the outcome
    assert np.allclose(scatter.get_offsets()[:, 0], points.export_control_severity)
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert {"export_control_severity", "switching_cost", "domestic_subsidy"} <= set(labels)
    assert "peer_weight=2" in fig.axes[0].get_title()
    # the command picks this chart for an LHS store, and the PNG carries its alt text
    png = artifacts_dir / "plot_lhs.png"
    assert main(["plot", str(lhs_store), "--metric", "spend_share:huawei", "--out", str(png)]) == 0
    from PIL import Image

    assert "partial-dependence" in Image.open(png).info["Description"]


def test_plot_metric_must_be_a_vendor_column(lhs_store, tmp_path, capsys):
    assert main(["plot", str(lhs_store), "--metric", "hhi", "--out", str(tmp_path / "x.png")]) == 2
    assert "plot draws a vendor column" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
