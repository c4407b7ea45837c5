"""Storing what sources push or users hand over: HTTP receivers, the NATS consumer, ``ingest``.

Every batch of signals is stored by :func:`clearance.ingest.storing.store_batch`, so a Falco
event is stored the same way whether it arrived on ``POST /v1/ingest/falco``, from NATS or from a
file; a whole reference document (the KEV catalog, EPSS scores, a VEX document) by
:func:`~clearance.ingest.storing.store_document`, beside it in the same module.
"""
