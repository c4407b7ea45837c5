"""Storing what sources push or users hand over: HTTP receivers, the NATS consumer, ``ingest``.

Every path ends in :func:`clearance.ingest.storing.store_batch`, so a Falco event is stored the
same way whether it arrived on ``POST /v1/ingest/falco``, from NATS or from a file.
"""
