"""Mesa agents of the cloud market: vendors, enterprise customers, vendor learning rules.

The two Mesa agents (``CloudVendor``, ``EnterpriseCustomer``) load on first use, so the
parameter schema can read this package's constants without importing Mesa.

>>> from cloudmarket.agents import SEGMENTS, CloudVendor
>>> len(SEGMENTS), CloudVendor.__name__
(5, 'CloudVendor')
"""

from cloudmarket.agents.learning import FOCUS_PROFILES, MENUS, RATES, SPLITS, make_rule
from cloudmarket.agents.price_rules import PRICE_RULES
from cloudmarket.agents.segments import SEGMENTS

__all__ = ["FOCUS_PROFILES", "MENUS", "PRICE_RULES", "RATES", "SEGMENTS", "SPLITS", "CloudVendor",
           "EnterpriseCustomer", "make_rule", "starting_focus"]


def __getattr__(name: str):
    if name in ("CloudVendor", "starting_focus"):
        from cloudmarket.agents import vendor
        return getattr(vendor, name)
    if name == "EnterpriseCustomer":
        from cloudmarket.agents.customer import EnterpriseCustomer
        return EnterpriseCustomer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
