"""Customer segments a vendor's sales force can target, in the order of every focus vector.

>>> SEGMENTS[0]
'large'
"""

SEGMENTS = ("large", "government", "telecom", "finance", "critical")  # CloudVendor.focus_* follow this order
