"""Mesa agents of the cloud market: vendors, enterprise customers, vendor learning rules."""

from cloudmarket.agents.customer import EnterpriseCustomer
from cloudmarket.agents.learning import SPLITS, make_rule
from cloudmarket.agents.vendor import CloudVendor

__all__ = ["SPLITS", "CloudVendor", "EnterpriseCustomer", "make_rule"]
