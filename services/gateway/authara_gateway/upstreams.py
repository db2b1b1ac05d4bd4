"""Round-robin over a list of upstreams with passive failure detection.

An upstream that refuses a connection (or does not accept one in time), or drops one before
answering, is skipped for `fail_duration` seconds; requests go to the others meanwhile (the
proxy sends a bodiless GET or HEAD that met a dropped connection to the next one). When every
upstream is marked down they are all tried anyway, the one that failed longest ago first: an
outage of the whole list must end as soon as one comes back, not when the timers run out.
"""

import logging
import time
from collections.abc import Callable, Sequence

from .settings import Upstream

_LOGGER = logging.getLogger(__name__)


class UpstreamPool:
    """Hand out upstreams in turn, healthy ones first."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        *,
        fail_duration: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not upstreams:
            raise ValueError("an upstream pool needs at least one upstream")
        self._upstreams = tuple(upstreams)
        self._fail_duration = fail_duration
        self._clock = clock
        self._down_until = dict.fromkeys(range(len(self._upstreams)), 0.0)
        self._turn = 0

    @property
    def upstreams(self) -> tuple[Upstream, ...]:
        """Return every upstream, in configuration order."""
        return self._upstreams

    def candidates(self) -> tuple[Upstream, ...]:
        """Return the upstreams one request should try, in order."""
        count = len(self._upstreams)
        if count == 1:
            return self._upstreams
        start = self._turn
        self._turn = (start + 1) % count
        now = self._clock()
        order = [(start + offset) % count for offset in range(count)]
        healthy = [index for index in order if self._down_until[index] <= now]
        down = sorted(
            (index for index in order if self._down_until[index] > now),
            key=self._down_until.__getitem__,
        )
        return tuple(self._upstreams[index] for index in healthy + down)

    def mark_failed(self, upstream: Upstream) -> None:
        """Skip an upstream that refused or dropped a connection for the next `fail_duration` s."""
        if self._fail_duration <= 0:
            return
        until = self._clock() + self._fail_duration
        for index, candidate in enumerate(self._upstreams):
            if candidate == upstream:
                if self._down_until[index] <= self._clock():
                    _LOGGER.warning(
                        "upstream %s:%s is down; skipping it for %.0f s",
                        upstream.host,
                        upstream.port,
                        self._fail_duration,
                    )
                self._down_until[index] = until

    def is_down(self, upstream: Upstream) -> bool:
        """Tell whether an upstream is currently being skipped."""
        now = self._clock()
        return any(
            candidate == upstream and self._down_until[index] > now
            for index, candidate in enumerate(self._upstreams)
        )
