"""EnterpriseCustomer: a firm buying cloud services, placed on a node of the industry graph.

For speed the market keeps every customer's state in numpy arrays (one entry per
customer) and makes all choices at once (``model/choice.py``); an EnterpriseCustomer is
the Mesa face of one row of those arrays: it sits on its graph cell and reads its
attributes from the market, so agents and arrays can never disagree.

Example
-------
>>> from cloudmarket.model import CloudMarket
>>> m = CloudMarket(n_customers=50, rng=3)
>>> c = m.customers[0]
>>> c.provider in m.vendor_names and c.spend > 0
True
>>> m.customers[-1].provider is None   # a prospect: not on the cloud yet
True
"""

from __future__ import annotations

from mesa.discrete_space import FixedAgent


class EnterpriseCustomer(FixedAgent):
    """One enterprise firm: industry, region, size, needs, segments, and the vendors it holds spend with."""

    def __init__(self, model, index: int, cell) -> None:
        super().__init__(model)
        self.index = index  # row of this customer in the market's arrays and node id
        self.cell = cell

    @property
    def provider(self) -> str | None:
        """Name of the vendor holding most of this firm's spend; None before it adopts the cloud."""
        k = int(self.model.provider[self.index])
        return None if k < 0 else self.model.vendor_names[k]

    @property
    def spend(self) -> float:
        """Annual cloud spend with all vendors (USD millions, grows with its workloads); 0 before adopting."""
        return float(self.model.holdings[self.index].sum())

    @property
    def holdings(self) -> dict[str, float]:
        """Annual spend with each vendor it uses (multi-homing: often more than one)."""
        row = self.model.holdings[self.index]
        return {name: float(x) for name, x in zip(self.model.vendor_names, row, strict=True) if x > 0}

    @property
    def industry(self) -> str:
        return self.model.industry_names[self.model.industry[self.index]]

    @property
    def region(self) -> str:
        return self.model.regions[self.model.region[self.index]]

    @property
    def iaas_need(self) -> float:
        """Share of the customer's needs that is IaaS (the rest is PaaS)."""
        return float(self.model.iaas_need[self.index])

    @property
    def segments(self) -> tuple[str, ...]:
        """Segments this customer belongs to (large, government, telecom, finance, critical)."""
        return tuple(s for s, flags in self.model.segments.items() if flags[self.index])

    @property
    def tenure(self) -> int:
        """Quarters with the current main vendor."""
        return int(self.model.tenure[self.index])
