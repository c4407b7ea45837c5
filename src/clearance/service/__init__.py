"""The decision service: the store-backed edge around the pure engine.

``decisions`` gathers a snapshot from the store and records every decision; ``approvals`` binds
human approvals to the evidence they saw; ``breakglass`` records audited overrides and
``notify`` tells the outside world about them. No web framework is imported here: the HTTP layer
(:mod:`clearance.server`) is a thin shell over these classes.
"""
