"""One thread for every call into an engine's native library.

llama.cpp's CPU backend (ggml) runs each graph in an OpenMP team, and GNU OpenMP keeps one team of
threads per calling thread. A worker runs jobs on several threads, so a model called from each
of them in turn ends up with several teams, and the idle teams' threads slow the one at work:
measured on 2 cores, a 0.5B chat model went from 50 to 37 tokens/s once a second worker thread had
generated with it. An ``EngineThread`` runs the calls (and streams) of one engine on a thread of
its own, so the model keeps one team whichever worker thread asks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_END = object()


class EngineThread:
    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def call(self, function: Callable[[], T]) -> T:
        """``function()`` on the engine's thread; its result or its exception here."""
        return self._executor.submit(function).result()

    def stream(self, produce: Callable[[], Iterator[T]]) -> Iterator[T]:
        """The items of ``produce()``, made on the engine's thread and handed over as they come.

        Closing the returned iterator stops the producer at its next item and waits until it
        has closed its own iterator (so that the model is free again when this returns).
        """
        items: queue.SimpleQueue[object] = queue.SimpleQueue()
        stop = threading.Event()

        def run() -> None:
            try:
                made = produce()
                try:
                    for item in made:
                        items.put(item)
                        if stop.is_set():
                            break
                finally:
                    close = getattr(made, "close", None)
                    if callable(close):
                        close()
            except BaseException as error:  # handed to the consumer, raised there
                items.put(_Raised(error))
            items.put(_END)

        running = self._executor.submit(run)
        try:
            while (item := items.get()) is not _END:
                if isinstance(item, _Raised):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            running.result()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error
