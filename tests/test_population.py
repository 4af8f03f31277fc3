"""Kept populations (model/population.py) give the very tables a fresh build gives."""

import numpy as np
import pytest

from cloudmarket.model import CloudMarket
from cloudmarket.model.market import START_PARAMS
from cloudmarket.model.params import SCHEMA, Params, validated
from cloudmarket.model.population import POPULATION_PARAMS, Populations
from cloudmarket.model.run import POPULATIONS, simulate_columns

# Levers a sweep varies, none of them a population parameter: each design point of a
# replication then reuses the first point's population.
LEVERS = [
    {},
    {"switching_cost": 3.0, "export_control_severity": 0.8},
    {"price_weight": 2.5, "learning_rule": "imitate"},
    {"cloud_push": 1.0, "cloud_push_vendors": ["huawei"], "policy_start": 2},
    {"data_localization": True, "export_control_severity": 0.5, "learning_rule": "fixed"},
    {"peer_weight": 0.0, "focus_weight": 1.5, "price_rule": "cost-plus"},
]


def _tables(model: CloudMarket, steps: int) -> dict:
    model.run_for(steps)
    return {**{f"v.{k}": v for k, v in model.vendor_columns().items()},
            **{f"m.{k}": v for k, v in model.market_columns().items()}}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("scenario, n, seed", [("china-2020", 300, 4), ("global-2020", 500, 11),
                                               ("china-2020", 250, 7)])
def test_markets_built_from_a_kept_population_match_fresh_builds(scenario, n, seed):
    kept = Populations()
    for levers in LEVERS:
        params = {"scenario": scenario, "n_customers": n, **levers}
        reused = _tables(CloudMarket(rng=seed, customer_agents=False, populations=kept, **params), 6)
        fresh = _tables(CloudMarket(rng=seed, customer_agents=False, **params), 6)
        _assert_same(reused, fresh)
    assert (kept.hits, kept.misses) == (len(LEVERS) - 1, 1)


def test_a_kept_population_serves_a_model_with_customer_agents_too():
    kept = Populations()
    CloudMarket(n_customers=300, rng=2, customer_agents=False, populations=kept)
    full = CloudMarket(n_customers=300, rng=2, switching_cost=0.5, populations=kept)
    assert kept.hits == 1 and len(full.customers) == full.customer_base.n
    _assert_same(_tables(full, 4), _tables(CloudMarket(n_customers=300, rng=2, switching_cost=0.5), 4))


def test_runs_do_not_change_a_kept_population():
    kept = Populations()
    first = CloudMarket(n_customers=300, rng=5, populations=kept, customer_agents=False)
    first.run_for(8)  # spend grows, tenure counts, customers switch: in the run's own arrays
    again = _tables(CloudMarket(n_customers=300, rng=5, populations=kept, customer_agents=False), 3)
    _assert_same(again, _tables(CloudMarket(n_customers=300, rng=5, customer_agents=False), 3))
    shared = first.customer_base.region
    with pytest.raises(ValueError, match="read-only"):
        shared[0] = 1  # what every run shares cannot be written


def _recording(read: set[str]) -> type[Params]:
    """Params that add the name of every parameter read to ``read``."""

    class Recording(Params):
        def __getattribute__(self, name):
            if name in SCHEMA:
                read.add(name)
            return super().__getattribute__(name)

        def __getitem__(self, name):
            read.add(name)
            return super().__getitem__(name)

    return Recording


def test_the_population_reads_only_its_parameters():
    """The key of a kept population must hold every parameter its rules read."""
    read: set[str] = set()
    Recording = _recording(read)

    for params in ({"n_customers": 300}, {"scenario": "global-2020", "n_customers": 400, "review_period": 3}):
        model = CloudMarket(rng=1, customer_agents=False, **params)
        model.params = Recording(dict(validated(params)))
        model._build_population(lambda phase: None)
        assert read and read <= set(POPULATION_PARAMS), sorted(read - set(POPULATION_PARAMS))
        model.customer_base.utility_of(model.customer_base.cohorts[0], model.offer())  # the recording sees other reads
        assert {"multicloud_cost", "price_weight"} <= read
        read.clear()


def test_the_steady_state_intercepts_read_only_their_key_parameters():
    """The kept intercepts are keyed by START_PARAMS (with the offer, holdings and commitments):
    the inversion must read no other parameter, or two runs could share intercepts they should not."""
    read: set[str] = set()
    Recording = _recording(read)

    for params in ({"n_customers": 300}, {"scenario": "global-2020", "n_customers": 400, "review_period": 3}):
        model = CloudMarket(rng=1, customer_agents=False, **params)
        recording = Recording(dict(validated(params)))
        model.params = model.customer_base.params = recording
        calibrated, model.intercepts = model.intercepts, np.zeros(model.n_vendors)
        offer = model.offer()  # as the inversion sees it: before any intercept
        read.clear()
        steady = model._steady_state(offer, model._calibration_sample(), len(model.starting_market.vendors))
        assert read and read <= set(START_PARAMS), sorted(read - set(START_PARAMS))
        np.testing.assert_array_equal(steady, calibrated[:len(steady)])


def test_other_population_parameters_seeds_and_sizes_are_not_shared():
    kept = Populations(max_customers=1000)
    base = {"n_customers": 300}
    CloudMarket(rng=1, populations=kept, customer_agents=False, **base)
    CloudMarket(rng=1, populations=kept, customer_agents=False, avg_degree=4.0, **base)  # another graph
    CloudMarket(rng=2, populations=kept, customer_agents=False, **base)  # another seed
    CloudMarket(rng=np.random.default_rng(1), populations=kept, customer_agents=False, **base)  # no key
    CloudMarket(rng=1, populations=kept, customer_agents=False, n_customers=2000)  # too large to keep
    assert (kept.hits, kept.misses) == (0, 3)  # a run that cannot be kept is no miss
    CloudMarket(rng=1, populations=kept, customer_agents=False, **base)
    assert kept.hits == 1


def test_batch_runs_share_populations_and_match_runs_without():
    POPULATIONS.clear()
    hits = POPULATIONS.hits
    shared = [simulate_columns({"n_customers": 250, **levers}, seed=9, steps=4) for levers in LEVERS]
    assert POPULATIONS.hits - hits == len(LEVERS) - 1
    for levers, (vendors, market) in zip(LEVERS, shared, strict=True):
        fresh = CloudMarket(rng=9, customer_agents=False, n_customers=250, **levers)
        fresh.run_for(4)
        _assert_same({**vendors, **market}, {**fresh.vendor_columns(), **fresh.market_columns()})


def test_populations_must_be_a_populations_store():
    with pytest.raises(TypeError, match=r"populations = 'yes': must be a Populations"):
        CloudMarket(n_customers=100, rng=1, populations="yes")


def test_another_scenario_with_the_same_seed_and_size_does_not_reuse_the_population():
    """The key holds the scenario: china-2020 and global-2020 draw different customers from one seed."""
    kept = Populations()
    size = {"n_customers": 300}
    china = validated({"scenario": "china-2020", **size})
    world = validated({"scenario": "global-2020", **size})
    assert kept.key(4, china) != kept.key(4, world)
    CloudMarket(rng=4, scenario="china-2020", populations=kept, customer_agents=False, **size)
    reused = CloudMarket(rng=4, scenario="global-2020", populations=kept, customer_agents=False, **size)
    assert (kept.hits, kept.misses) == (0, 2)
    fresh = CloudMarket(rng=4, scenario="global-2020", customer_agents=False, **size)
    _assert_same(_tables(reused, 3), _tables(fresh, 3))


def test_runs_that_differ_in_levers_share_their_steady_state_intercepts_bit_for_bit():
    """Sweeping a lever that acts from the first quarter (export controls) leaves the start's inputs
    as they were: the second run takes the kept intercepts, equal to a fresh build's; a parameter
    the start reads (switching cost) computes its own."""
    kept = Populations()
    first = CloudMarket(n_customers=300, rng=4, populations=kept, export_control_severity=0.0)
    base = first.customer_base
    steady = [key for key in base.derived if key[0] == "steady-state intercepts"]
    assert len(steady) == 1
    lever = CloudMarket(n_customers=300, rng=4, populations=kept, export_control_severity=0.9)
    assert [key for key in lever.customer_base.derived if key[0] == "steady-state intercepts"] == steady
    fresh = CloudMarket(n_customers=300, rng=4, export_control_severity=0.9)
    np.testing.assert_array_equal(lever.intercepts, fresh.intercepts)
    other = CloudMarket(n_customers=300, rng=4, populations=kept, switching_cost=2.0)
    assert len([key for key in other.customer_base.derived if key[0] == "steady-state intercepts"]) == 2
    np.testing.assert_array_equal(other.intercepts, CloudMarket(n_customers=300, rng=4, switching_cost=2.0).intercepts)
    assert not np.array_equal(other.intercepts, first.intercepts)
