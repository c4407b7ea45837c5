"""Reflectors: list a resource, then watch it from the list's resourceVersion, forever.

The client-go informer pattern (https://kubernetes.io/docs/reference/using-api/api-concepts/
#efficient-detection-of-changes): a ``410 Gone`` means the version is too old, so re-list; any
other failure is recorded in the cache (and so in source health) and retried after a backoff,
while resolution keeps reading the last good objects.
"""

from __future__ import annotations

import logging
import threading

from clearance.errors import KubeApiError, KubeFailure
from clearance.inventory.kubernetes.api import KubeApi
from clearance.inventory.kubernetes.cache import ClusterCache, ResourceType, parse_all
from clearance.inventory.kubernetes.objects import Controller, Node, Pod

logger = logging.getLogger(__name__)


def list_into(
    api: KubeApi,
    cache: ClusterCache,
    resource: ResourceType,
    namespace: str | None = None,
    *,
    page_size: int = 500,
) -> bool:
    """List ``resource`` (cluster-wide, or in ``namespace``) into ``cache``.

    A failure is recorded in the cache instead of raised. True on success. A ``410 Gone`` mid-way
    (the continue token expired: etcd compacted during a long list) restarts the list once.
    """
    scope = namespace if resource.namespaced else None
    for attempt in (1, 2):
        parsed: list[Controller | Pod | Node] = []
        malformed: dict[str, str] = {}
        version = ""
        try:
            pages = api.list_pages(resource.path(scope), kind=resource.kind, limit=page_size)
            for items, page_version in pages:
                version = page_version
                records, bad = parse_all(resource.kind, items, start=len(parsed) + len(malformed))
                parsed += records
                malformed.update(bad)
        except KubeApiError as exc:
            if exc.failure is KubeFailure.GONE and attempt == 1:
                logger.info("%s; listing again from the start", exc)
                continue
            if exc.failure is KubeFailure.NOT_FOUND and resource.optional:
                cache.mark_absent(resource.kind)
                return True
            logger.warning("%s", exc)
            cache.fail(resource.kind, str(exc))
            return False
        cache.install(resource.kind, parsed, malformed, version, namespace=scope)
        return True
    return False  # pragma: no cover - the loop returns on its second attempt


class Reflector:
    """Keeps one resource of one cluster current in the cache, until ``stop`` is set."""

    def __init__(
        self,
        api: KubeApi,
        cache: ClusterCache,
        resource: ResourceType,
        stop: threading.Event,
        *,
        watch_timeout: int = 300,
        backoff: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self.api = api
        self.cache = cache
        self.resource = resource
        self.stop = stop
        self.watch_timeout = watch_timeout
        self.backoff = backoff
        self.relists = 0  # how many times a 410 Gone forced a fresh list
        self.finished = False  # ended on purpose (optional CRD absent): not to be restarted

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.api.release()  # the connections of a request that raced the stop

    def _run(self) -> None:
        delay = self.backoff[0]
        listed = False
        while not self.stop.is_set():
            if not listed:
                listed = list_into(self.api, self.cache, self.resource)
                if not listed:
                    self.stop.wait(delay)
                    delay = min(delay * 2, self.backoff[1])
                    continue
                delay = self.backoff[0]
                if self.cache.state[self.resource.kind].absent:
                    self.finished = True
                    return  # optional CRD not installed: nothing to watch
            try:
                self._watch()
            except KubeApiError as exc:
                if self.stop.is_set():
                    return
                listed = False
                if exc.failure is KubeFailure.GONE:
                    self.relists += 1
                    logger.info("%s; re-listing", exc)
                    continue
                logger.warning("%s", exc)
                self.cache.fail(self.resource.kind, str(exc))
                self.stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])

    def _watch(self) -> None:
        kind = self.resource.kind
        version = self.cache.state[kind].resource_version
        for event, obj in self.api.watch(
            self.resource.path(), version, timeout_seconds=self.watch_timeout
        ):
            if self.stop.is_set():
                return
            self.cache.apply(kind, event, obj)
