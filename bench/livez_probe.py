"""Probe a server's ``/livez`` from a process of its own until stdin closes, then print a JSON
object: each probe's latency in seconds (``latencies``), the statuses that were not 200
(``failures``), and how late this process's own 50 ms sleeps woke (``stalls``): the machine's
scheduling noise, which no server can do better than.

A separate process, so that the measuring client's own work (its garbage collection, its other
threads) is not counted as the server's slowness. Standard library only.

    python bench/livez_probe.py PORT < (a pipe closed when probing should stop)
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time

INTERVAL = 0.05


def main() -> int:
    port = int(sys.argv[1])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    latencies: list[float] = []
    stalls: list[float] = []
    failures: list[int] = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("GET", "/livez")
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            failures.append(response.status)
        slept = time.perf_counter()
        time.sleep(INTERVAL)
        stalls.append(time.perf_counter() - slept - INTERVAL)
    print(json.dumps({"latencies": latencies, "failures": failures, "stalls": stalls}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
