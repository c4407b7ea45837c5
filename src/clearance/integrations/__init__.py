"""Integrations: the one verdict spoken in each pipeline's dialect.

``interface.py`` is the contract the routes are built on (a :class:`~interface.Decider` that
decides and records, an :class:`~interface.Authenticator` that turns a bearer token into a
caller); ``verdicts.py`` is the one table mapping proceed/approve/block to every dialect; one
module per dialect (``github``, ``admission``, ``argo``, ``flagger``) parses its payload into a
:class:`~clearance.model.target.Target` and renders the :class:`~clearance.model.decision.Decision`
back. Nothing here imports a web framework; the routers live in ``clearance.server.routes``.
"""
