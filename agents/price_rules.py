"""The price rules a vendor may follow: their names, read by the parameter schema.

Kept apart from ``vendor.py`` (which is a Mesa agent), so that reading the schema does not
import Mesa.

Example
-------
>>> from cloudmarket.agents.price_rules import PRICE_RULES
>>> PRICE_RULES
('best-response', 'cost-plus')
"""

PRICE_RULES = ("best-response", "cost-plus")  # myopic Bertrand best response | cost plus the starting markup
