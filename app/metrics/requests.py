"""HTTP requests of this web process, per method, route (the URL rule, not the raw path) and status.

One ``observe`` per request from the app's after-request hook: a dictionary lookup, a bisect and
a lock, microseconds. A request that matched no route counts under ``UNMATCHED``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from domain.telemetry import HTTP_SECONDS, Histogram, HistogramSnapshot

UNMATCHED = "<unmatched>"


@dataclass(frozen=True, order=True)
class RequestKey:
    method: str
    route: str
    status: int


@dataclass(frozen=True)
class RequestSeries:
    key: RequestKey
    seconds: HistogramSnapshot
    """Its ``count`` is the number of requests."""


class RequestMetrics:
    def __init__(self) -> None:
        self._series: dict[RequestKey, Histogram] = {}
        self._lock = threading.Lock()

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        key = RequestKey(method, route or UNMATCHED, status)
        histogram = self._series.get(key)
        if histogram is None:
            with self._lock:
                histogram = self._series.setdefault(key, Histogram(HTTP_SECONDS))
        histogram.observe(seconds)

    def series(self) -> list[RequestSeries]:
        with self._lock:
            items = sorted(self._series.items())
        return [RequestSeries(key, histogram.snapshot()) for key, histogram in items]
