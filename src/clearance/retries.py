"""How Clearance waits before trying again: tenacity, with the clock and the dice passed in.

Every retry in Clearance (a vendor API, the Clearance service, GitHub callbacks, webhooks, the
sync loop) runs through :class:`tenacity.Retrying`; this module holds the one wait shape they
share. ``random`` is injected (as ``sleep`` is, by each caller) so tests never wait and the
jitter is reproducible; tenacity's own jittered waits read the global ``random`` module.
"""

from __future__ import annotations

from collections.abc import Callable

import tenacity

__all__ = ["jittered_backoff"]


def jittered_backoff(
    base: float,
    cap: float,
    random: Callable[[], float],
    *,
    spread: tuple[float, float] = (0.5, 1.0),
) -> Callable[[tenacity.RetryCallState], float]:
    """Exponential backoff with jitter: before retry ``n`` (1, 2, …) wait
    ``min(cap, base × 2^(n-1)) × uniform(spread)``, so callers that failed together do not come
    back together."""
    low, high = spread

    def wait(state: tenacity.RetryCallState) -> float:
        ceiling = min(cap, base * 2.0 ** (state.attempt_number - 1))
        return ceiling * (low + (high - low) * random())

    return wait
