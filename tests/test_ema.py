"""The EMA Workbench adapter: parameters from the schema, outcomes as series, runs match simulate."""

from __future__ import annotations

import ema_workbench as ema  # the analysis extra; make test installs it
import numpy as np
import pytest

from cloudmarket.experiments.ema import NONE, ema_model, from_ema
from cloudmarket.model.errors import ParameterError
from cloudmarket.model.params import SCHEMA
from cloudmarket.model.run import simulate


def test_levers_and_uncertainties_come_from_the_schema():
    model = ema_model()
    levers = {p.name: p for p in model.levers}
    uncertainties = {p.name: p for p in model.uncertainties}
    assert set(levers) == {n for n, p in SCHEMA.items() if p.role == "lever"}
    assert set(uncertainties) == {n for n, p in SCHEMA.items() if p.role == "uncertainty"}
    # declared, not inferred from where the page shows a control
    assert {"interoperability", "egress_fee_cap", "commitment_discount_cap", "export_control_severity"} <= set(levers)
    assert {"switching_cost", "peer_weight", "export_cost_markup", "multicloud_cost"} <= set(uncertainties)
    assert not {"scenario", "n_customers", "steps"} & (set(levers) | set(uncertainties))
    severity = levers["export_control_severity"]
    assert (severity.lower_bound, severity.upper_bound) == (SCHEMA["export_control_severity"].low,
                                                            SCHEMA["export_control_severity"].high)
    assert isinstance(levers["policy_start"], ema.IntegerParameter)
    assert isinstance(levers["data_localization"], ema.BooleanParameter)
    # lists are categorical: the default, each allowed value alone, and none
    regions = [c.value for c in levers["ban_segments"].categories]
    assert regions[0] == "government,critical" and "all" in regions and NONE in regions
    assert [c.value for c in uncertainties["learning_rule"].categories] == list(SCHEMA["learning_rule"].choices)
    assert {p.name for p in model.outcomes} >= {"spend_share_huawei", "share_aws", "hhi", "churn"}


def test_fixed_values_become_constants_and_leave_the_sampled_set():
    model = ema_model(n_customers=300, switching_cost=1.5, ban_regions=[])
    constants = {c.name: c.value for c in model.constants}
    assert constants["n_customers"] == 300 and constants["switching_cost"] == 1.5
    assert constants["ban_regions"] == NONE and from_ema("ban_regions", NONE) == []
    assert "switching_cost" not in {p.name for p in model.levers}


@pytest.mark.parametrize("kwargs,message", [
    ({"switching_cost": -1}, "switching_cost = -1: must be >= 0"),
    ({"levers": ["nonsense"]}, "nonsense = 'nonsense': not a policy lever"),
    ({"ranges": {"switching_cost": (0.0, 99.0)}}, "switching_cost = 99.0"),
    ({"ranges": {"switching_cost": (3.0, 1.0)}}, "low < high"),
    ({"replications": 0}, "replications = 0"),
])
def test_bad_input_names_the_parameter(kwargs, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ema_model(**kwargs)


def test_perform_experiments_runs_the_market_as_simulate_does():
    model = ema_model(n_customers=150, steps=4, seed=3, levers=["export_control_severity", "ban_segments"],
                      uncertainties=["switching_cost"], ranges={"switching_cost": (0.5, 4.0)})
    experiments, outcomes = ema.perform_experiments(model, scenarios=3, policies=2)
    assert len(experiments) == 6
    assert outcomes["hhi"].shape == (6, 5) and outcomes["spend_share_huawei"].shape == (6, 5)
    vendors = [k for k in outcomes if k.startswith("spend_share_")]
    total = sum(outcomes[k] for k in vendors)
    assert np.allclose(total, 1.0)  # spend shares add up at every step of every run
    row = experiments.iloc[4]
    direct = simulate({"n_customers": 150, "steps": 4, "switching_cost": row.switching_cost,
                       "export_control_severity": row.export_control_severity,
                       "ban_segments": from_ema("ban_segments", row.ban_segments)}, seed=3)
    huawei = direct.vendors[direct.vendors.vendor == "huawei"].spend_share.to_numpy()
    assert np.allclose(outcomes["spend_share_huawei"][4], huawei)
    assert np.allclose(outcomes["churn"][4], direct.market.churn)


def test_replications_use_the_sweep_seeds():
    from cloudmarket.experiments.sampling import replication_seed

    model = ema_model(n_customers=120, steps=2, replications=2, seed=5, levers=[], uncertainties=["peer_weight"],
                      ranges={"peer_weight": (0.5, 2.0)})
    assert [r["seed"] for r in model.replications] == [replication_seed(5, 0), replication_seed(5, 1)]
    _, outcomes = ema.perform_experiments(model, scenarios=2)
    assert outcomes["hhi"].shape == (2, 2, 3)
    assert not np.allclose(outcomes["hhi"][:, 0], outcomes["hhi"][:, 1])  # different seeds, different runs


def test_objectives_give_final_values_that_optimize_searches(tmp_path):
    model = ema_model(n_customers=100, steps=3, levers=["export_control_severity"], uncertainties=["peer_weight"],
                      ranges={"peer_weight": (0.5, 2.0)}, objectives={"spend_share_huawei": "min", "hhi": "max"})
    _, outcomes = ema.perform_experiments(model, scenarios=2, policies=2)
    assert np.allclose(outcomes["final_spend_share_huawei"], outcomes["spend_share_huawei"][:, -1])
    assert np.allclose(outcomes["final_hhi"], outcomes["hhi"][:, -1])
    front, _ = ema.optimize(model, nfe=16, searchover="levers", epsilons=[0.005, 10.0], rng=1,
                            filename="opt.tar.gz", directory=str(tmp_path))
    assert {"export_control_severity", "final_spend_share_huawei", "final_hhi"} <= set(front.columns)
    assert front.export_control_severity.between(0, 1).all()
    with pytest.raises(ParameterError, match="objectives"):
        ema_model(objectives={"hhi": "lowest"})
    with pytest.raises(ParameterError, match="not an outcome series"):
        ema_model(objectives={"profit": "max"})
