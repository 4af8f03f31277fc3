"""Mesa agents of the cloud market: vendors, enterprise customers, vendor learning rules."""

from agents.customer import EnterpriseCustomer
from agents.learning import SPLITS, make_rule
from agents.vendor import CloudVendor

__all__ = ["SPLITS", "CloudVendor", "EnterpriseCustomer", "make_rule"]
