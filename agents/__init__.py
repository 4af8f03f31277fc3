"""Mesa agents of the cloud market: vendors, enterprise customers, vendor learning rules."""

from cloudmarket.agents.customer import EnterpriseCustomer
from cloudmarket.agents.learning import FOCUS_PROFILES, MENUS, RATES, SPLITS, make_rule
from cloudmarket.agents.segments import SEGMENTS
from cloudmarket.agents.vendor import PRICE_RULES, CloudVendor, starting_focus

__all__ = ["FOCUS_PROFILES", "MENUS", "PRICE_RULES", "RATES", "SEGMENTS", "SPLITS", "CloudVendor",
           "EnterpriseCustomer", "make_rule", "starting_focus"]
