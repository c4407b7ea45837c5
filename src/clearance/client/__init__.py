"""The one client of the Clearance service, used by the CLI's remote mode and the pipeline gate.

    from clearance.client.answers import Question
    from clearance.client.session import ServiceClient

    with ServiceClient.connect(args.server, os.environ, mask) as service:
        answer = service.decide(Question(target, manifest))
        if wait and answer.pending:
            answer = service.wait(Question(target, manifest), answer, timeout=…, poll=…)

``credentials`` finds the service and the bearer (``$CLEARANCE_SERVER``, ``$CLEARANCE_TOKEN``,
or a GitHub Actions OIDC token); ``session`` holds the one HTTP client (timeouts, tenacity
retries, errors mapped to :mod:`clearance.errors`); ``answers`` the typed question and answer.
Nothing is imported here, so reading the light modules does not load httpx.
"""
