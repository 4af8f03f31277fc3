"""CloudMarket with its vendors collected the usual Mesa way, for ``mesa.batch_run``.

``mesa.batch_run`` turns a model's DataCollector into rows: model reporters become
columns, and agent-type reporters one row per agent and step. CloudMarket itself collects
its vendors as one array per step (a model reporter, see ``model/market.py``), which
batch_run would pass on as a single array-valued column. This subclass collects them
with ``agenttype_reporters`` instead, as a Mesa user writing for batch_run would, so that
batch_run returns one row per vendor and step: the same table our runner stores. The
model's state and random draws are untouched (tests/test_bench_equivalence.py checks the
rows equal ``vendor_frame()``).

Example
-------
>>> m = MesaCollectedMarket(n_customers=200, rng=1)
>>> m.run_for(2)
>>> len(m.datacollector.get_agenttype_vars_dataframe(CloudVendor)) == 3 * len(m.vendors)
True
"""

from __future__ import annotations

import mesa

from cloudmarket.agents import CloudVendor
from cloudmarket.model.market import MARKET_REPORTS, VENDOR_REPORTS, CloudMarket


class MesaCollectedMarket(CloudMarket):
    """CloudMarket whose DataCollector uses Mesa's agent-type reporters for the vendors."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.datacollector = mesa.DataCollector(
            model_reporters={"step": "steps", "period": "period", **{k: k for k in MARKET_REPORTS}},
            agenttype_reporters={CloudVendor: VENDOR_REPORTS},
        )
        self.datacollector.collect(self)  # step 0, as CloudMarket does
