"""Fast checks of app.py without a browser: controls from the schema, errors, figures, agreement.

The page itself is rendered headless with ``solara.render`` (widgets, no server), so Step,
Reset and a bad typed value are exercised here in seconds; tests/test_app_browser.py does
the same through real Chromium.
"""

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
from mesa.visualization import Slider

from cloudmarket import app
from cloudmarket.model import ParameterError
from cloudmarket.model.params import SCHEMA, defaults
from cloudmarket.model.run import simulate


def test_controls_cover_every_lever_with_schema_defaults_and_ranges():
    controls = app.model_params()
    policy = [n for n, p in SCHEMA.items() if p.role == "lever"] + list(app.PAGE_BEHAVIOUR)
    assert set(controls) == {"scenario_name", "n_customers", "rng", *policy}
    assert {"interoperability", "egress_fee_cap", "commitment_discount_cap", "egress_schedule"} <= set(controls)
    for name in ("n_customers", *policy):
        control, spec = controls[name], SCHEMA[name]
        if isinstance(control, Slider):
            assert (control.value, control.min, control.max, control.step) == (
                spec.default, spec.low, spec.high, spec.step)
        else:
            assert app.parse_value(name, control["value"]) == spec.default
    assert controls["scenario_name"]["values"] == list(SCHEMA["scenario"].choices)
    assert controls["data_localization"]["type"] == "Checkbox"


def test_initial_controls_resolve_to_schema_defaults():
    params, seed = app.parse_controls(app.initial_controls())
    full = defaults()
    assert params == {n: full[n] for n in app.PAGE_CONTROLS}
    assert seed == app.DEFAULT_SEED


@pytest.mark.parametrize(("key", "text", "message"), [
    ("n_customers", "lots", "n_customers = 'lots': must be a number"),
    ("n_customers", "5", "n_customers = 5: must be >= 10"),
    ("ban_regions", "Mars", "unknown region ['Mars']"),
    ("ban_segments", "government, farms", "unknown ['farms']"),
    ("policy_start", "1.5", "must be a whole number"),
    ("rng", "-3", "seed = -3: must be a whole number >= 0"),
])
def test_bad_values_raise_readable_errors(key, text, message):
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        app.parse_controls({**app.initial_controls(), key: text})


def test_failed_build_keeps_last_model_and_reports():
    good = app.PageMarket(**{**app.initial_controls(), "n_customers": "60"})
    assert app.build_error.value == "" and app.last_model.value is good
    kept = app.PageMarket(**{**app.initial_controls(), "switching_cost": "cheap"})
    assert kept is good
    assert app.build_error.value.startswith("Not rebuilt: switching_cost = 'cheap'")
    app.PageMarket(**{**app.initial_controls(), "n_customers": "70"})
    assert app.build_error.value == ""


def test_page_model_agrees_with_cloudmarket_run():
    """Same scenario, params and seed: the page's model and `simulate` give equal shares every step."""
    controls = {**app.initial_controls(), "scenario_name": "global-2020", "n_customers": "400",
                "switching_cost": 1.5, "export_control_severity": 0.6, "ban_regions": "UK, EU",
                "rng": "7"}
    page_model = app.PageMarket(**controls)
    for _ in range(6):
        page_model.step()
    params, seed = app.parse_controls(controls)
    cli = simulate(params, seed=seed, steps=6).vendors
    pd.testing.assert_frame_equal(page_model.vendor_frame()[cli.columns], cli)


def test_figures_draw_and_graph_sample_is_stated_seeded_and_cached():
    small = app.PageMarket(**{**app.initial_controls(), "n_customers": "120"})
    small.run_for(2)
    for make in (app.graph_figure, app.shares_figure, app.concentration_figure, app.strategy_figure):
        assert make(small).axes
    groups = app.groups_figure(app.PageMarket(**{**app.initial_controls(), "n_customers": "300",
                                                  "scenario_name": "global-2020"})).axes[0]
    labels = [t.get_text() for t in groups.get_yticklabels()]
    assert labels[:2] == ["large", "government"] and "UK customers" in labels
    widths = np.array([p.get_width() for p in groups.patches]).reshape(-1, len(labels))  # vendors x groups
    np.testing.assert_allclose(widths.sum(axis=0), 100.0)  # each group's bar is its whole spend
    assert "all 264 firms" in app.graph_figure(small).axes[0].get_title()  # 120 customers + 144 prospects
    big = app.PageMarket(**app.initial_controls())
    title = app.graph_figure(big).axes[0].get_title()
    assert f"seeded sample of {app.GRAPH_MAX_NODES} of 4,400 firms" in title
    assert app.graph_sample(big) is app.graph_sample(big)  # cached per model
    twin = app.PageMarket(**app.initial_controls())
    np.testing.assert_array_equal(app.graph_sample(big)[0], app.graph_sample(twin)[0])
    assert "2,000 customers, seed 0" in app.settings_text(big)
    assert "huawei" in app.shares_table_html(big)


def _find_text_field(rc, label):
    return rc.find(v.TextField, label=label).widget


def _time(rc) -> str:
    """The "Time: N.0" text of Mesa's Information card."""
    texts = [w.children[0] for w in rc.find(v.Html, tag="span").widgets
             if w.children and str(w.children[0]).startswith("Time:")]
    assert len(texts) == 1, texts
    return texts[0]


def test_page_renders_steps_resets_and_survives_a_bad_value():
    """The SolaraViz page rendered headless: six PNG charts, Step, Reset, a bad value."""
    box, rc = solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)
    assert len(rc.find(ipywidgets.Image).widgets) == 6
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert _time(rc) == "Time: 1.0"

    field = _find_text_field(rc, "n_customers")
    field.v_model = "lots"
    field.fire_event("focusout", None)
    rc.find(v.Btn, children=["Reset"]).widget.click()
    rc.find(v.Alert).assert_not_empty()
    assert "n_customers = 'lots'" in str(rc.find(v.Alert).widget.children)
    assert _time(rc) == "Time: 1.0"  # the previous model is kept
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert _time(rc) == "Time: 2.0"  # and still steps

    field.v_model = "150"
    field.fire_event("focusout", None)
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert _time(rc) == "Time: 0.0"
    assert not rc.find(v.Alert).widgets
    assert any("150 customers" in str(w.children) for w in rc.find(v.Html).widgets)
    rc.close()


def test_docstring_examples():
    import doctest

    assert doctest.testmod(app, optionflags=doctest.ELLIPSIS).failed == 0
