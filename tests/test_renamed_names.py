"""Old names still work for one release: a renamed parameter wherever parameters enter, old vendor attributes.

``reinvestment_rate`` is the old name of the parameter ``investment_rate``
(``model.params.RENAMED``); on a vendor, ``iaas_share``, ``congestion`` and ``share`` are
read-only old names of ``iaas_investment_share``, ``capacity_ratio`` and ``customer_share``; the
vendor table keeps the old columns ``congestion`` and ``investment`` beside ``capacity_ratio`` and
``rd_investment``.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from cloudmarket.experiments.cli import main
from cloudmarket.experiments.spec import SpecError, parse_spec
from cloudmarket.model import CloudMarket, ParameterError
from cloudmarket.model.params import RENAMED, SCHEMA, resolve, validated


def test_every_old_name_maps_to_a_parameter_and_is_not_one_itself():
    assert RENAMED == {"reinvestment_rate": "investment_rate"}
    assert "investment_rate" in SCHEMA and "reinvestment_rate" not in SCHEMA


def test_python_api_takes_the_old_name_as_the_new_one():
    old = CloudMarket(n_customers=200, rng=4, reinvestment_rate=0.15)
    new = CloudMarket(n_customers=200, rng=4, investment_rate=0.15)
    assert old.params.investment_rate == 0.15 and "reinvestment_rate" not in old.params
    assert {v.investment_rate for v in old.vendors} == {0.15}
    old.run_for(2)
    new.run_for(2)
    pd.testing.assert_frame_equal(old.vendor_frame(), new.vendor_frame())
    assert validated({"reinvestment_rate": 0.1}).investment_rate == 0.1


def test_python_api_refuses_both_names_naming_both():
    with pytest.raises(ParameterError) as err:
        CloudMarket(n_customers=50, rng=1, reinvestment_rate=0.1, investment_rate=0.15)
    assert err.value.name == "reinvestment_rate"
    assert "investment_rate = 0.15" in str(err.value) and "old name of investment_rate" in str(err.value)


def test_a_bad_value_under_the_old_name_names_the_old_name():
    with pytest.raises(ParameterError) as err:
        resolve({"reinvestment_rate": 0.5})
    assert str(err.value) == "reinvestment_rate = 0.5: must be <= 0.18 (reinvestment_rate is the old name of investment_rate)"


def test_cli_set_and_params_file_take_the_old_name(tmp_path, capsys):
    out = tmp_path / "one.parquet"
    assert main(["run", "--n-customers", "120", "--steps", "1", "--set", "reinvestment_rate=0.15",
                 "--out", str(out)]) == 0
    start = pd.read_parquet(out).query("step == 0")
    assert (start.investment_rate == 0.15).all()
    f = tmp_path / "p.toml"
    f.write_text("n_customers = 120\nreinvestment_rate = 0.09\n")
    assert main(["run", "--steps", "1", "--params", str(f), "--out", str(out)]) == 0
    assert (pd.read_parquet(out).query("step == 0").investment_rate == 0.09).all()


def test_cli_refuses_both_names_with_status_2_and_writes_nothing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cloudmarket", "run", "--n-customers", "50", "--steps", "1",
                           "--set", "reinvestment_rate=0.1", "--set", "investment_rate=0.15",
                           "--out", str(tmp_path / "one.parquet")], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "reinvestment_rate = 0.1" in proc.stderr and "investment_rate = 0.15" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


SPEC = """
[experiment]
name = "old-names"
[parameters]
n_customers = 200
{parameters}
[sweep]
design = "{design}"
{sweep}
"""


def test_spec_file_takes_the_old_name_fixed_and_swept():
    fixed = parse_spec(SPEC.format(parameters="reinvestment_rate = 0.09", design="grid",
                                   sweep="[sweep.values]\nswitching_cost = [1.0, 2.0]"))
    assert fixed.fixed["investment_rate"] == 0.09 and "reinvestment_rate" not in fixed.fixed
    swept = parse_spec(SPEC.format(parameters="", design="lhs",
                                   sweep="samples = 4\n[sweep.ranges]\nreinvestment_rate = [0.06, 0.18]"))
    assert swept.ranges == {"investment_rate": (0.06, 0.18)} and swept.swept == ("investment_rate",)
    same = parse_spec(SPEC.format(parameters="", design="lhs",
                                  sweep="samples = 4\n[sweep.ranges]\ninvestment_rate = [0.06, 0.18]"))
    assert swept.identity() == same.identity()  # one experiment, whichever name the file uses


@pytest.mark.parametrize("parameters, sweep, fragment", [
    ("reinvestment_rate = 0.1\ninvestment_rate = 0.15", "[sweep.values]\nswitching_cost = [1.0]",
     "parameters.investment_rate = 0.15: already set at parameters.reinvestment_rate; give it once "
     "(reinvestment_rate is the old name of investment_rate)"),
    ("reinvestment_rate = 0.1", "[sweep.values]\ninvestment_rate = [0.12]",
     "sweep.values.investment_rate = [0.12]: also fixed at parameters.reinvestment_rate"),
    ("", "[sweep.values]\nreinvestment_rate = [0.1]\ninvestment_rate = [0.12]",
     "sweep.values.investment_rate = [0.12]: investment_rate is swept twice; give it once "
     "(reinvestment_rate is the old name of investment_rate)"),
    ("reinvestment_rate = 0.5", "[sweep.values]\nswitching_cost = [1.0]",
     "parameters.reinvestment_rate = 0.5: must be <= 0.18"),
])
def test_spec_file_refuses_both_names_naming_both(parameters, sweep, fragment):
    with pytest.raises(SpecError) as err:
        parse_spec(SPEC.format(parameters=parameters, design="grid", sweep=sweep))
    assert fragment in str(err.value)


def test_ema_takes_the_old_name_as_a_constant_an_uncertainty_and_a_range():
    from cloudmarket.experiments.ema import ema_model

    fixed = ema_model(n_customers=100, reinvestment_rate=0.09)
    assert {c.name: c.value for c in fixed.constants}["investment_rate"] == 0.09
    sampled = ema_model(uncertainties=["reinvestment_rate"], ranges={"reinvestment_rate": (0.08, 0.1)})
    (only,) = sampled.uncertainties
    assert (only.name, only.lower_bound, only.upper_bound) == ("investment_rate", 0.08, 0.1)
    with pytest.raises(ParameterError, match="old name of investment_rate"):
        ema_model(reinvestment_rate=0.09, investment_rate=0.1)


def test_old_vendor_attribute_names_read_the_new_ones_and_cannot_be_set():
    m = CloudMarket(n_customers=200, rng=3)
    m.run_for(2)
    for v in m.vendors:
        assert v.iaas_share == v.iaas_investment_share
        assert v.congestion == v.capacity_ratio and v.share == v.customer_share
        for old in ("iaas_share", "congestion", "share"):
            with pytest.raises(AttributeError):
                setattr(v, old, 0.5)


def test_old_column_names_hold_the_new_columns_values():
    m = CloudMarket(n_customers=300, rng=5, cloud_push=0.5, cloud_push_vendors=["huawei"])
    m.run_for(3)
    frame = m.vendor_frame()
    assert frame.rd_investment.gt(0).any()
    pd.testing.assert_series_equal(frame.investment, frame.rd_investment, check_names=False)
    pd.testing.assert_series_equal(frame.congestion, frame.capacity_ratio, check_names=False)
    for v in m.vendors:
        assert v.investment == v.rd_investment
        with pytest.raises(AttributeError):
            v.investment = 1.0
