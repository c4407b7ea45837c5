"""Clearance: is it safe to deploy this, to that target, right now?"""

__version__ = "0.1.0"
