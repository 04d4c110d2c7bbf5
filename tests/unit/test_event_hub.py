"""The event hub's loop: stopping always ends it, a poke from any thread wakes it, and with nobody
subscribed it skips to the head, once a poll."""

from __future__ import annotations

import asyncio
import threading

from eventstore.base import NewEvent
from eventstore.memory import InMemoryEventStore
from eventstore.subscription import EventHub


async def test_stop_ends_the_loop_even_when_a_wake_up_comes_at_the_same_moment() -> None:
    # On Python 3.11 asyncio.wait_for swallowed a cancellation that coincided with the wake-up,
    # and stop() then waited forever (a CI run hung here for 5 minutes).
    for round_number in range(50):
        hub = EventHub(InMemoryEventStore(), poll_seconds=0.05)
        await hub.start()
        await asyncio.sleep(0.001 * (round_number % 3))
        hub.poke()
        await asyncio.sleep(0)  # the thread-safe poke lands on the next loop iteration
        await asyncio.wait_for(hub.stop(), 2)


async def test_a_poke_from_another_thread_delivers_without_waiting_for_the_poll() -> None:
    store = InMemoryEventStore()
    hub = EventHub(store, poll_seconds=30.0)
    await hub.start()
    try:
        subscription = hub.subscribe(0)

        def append_and_poke() -> None:
            store.append("a-1", [NewEvent("a.happened", {"i": 1})])
            hub.poke()

        first = asyncio.ensure_future(anext(subscription))
        await asyncio.sleep(0.05)  # caught up (nothing stored), now waiting on the live queue
        threading.Thread(target=append_and_poke).start()
        event = await asyncio.wait_for(first, 2)
        await subscription.aclose()
    finally:
        await hub.stop()
    assert event.data == {"i": 1}


async def test_with_nobody_subscribed_the_hub_skips_to_the_head_and_a_later_subscriber_misses_nothing() -> (
    None
):
    store = InMemoryEventStore()
    hub = EventHub(store, poll_seconds=30.0)
    await hub.start()
    try:
        for i in range(3):
            store.append("a-1", [NewEvent("a.happened", {"i": i})])
            hub.poke()
            await asyncio.sleep(0.02)
        # Moved to the head without reading what nobody waits for, and only on the first ring of
        # the poll: the next rings cost no read at all.
        assert hub.position == 1
        subscription = hub.subscribe(1)
        first = await asyncio.wait_for(anext(subscription), 2)  # from the store
        second = await asyncio.wait_for(anext(subscription), 2)
        live = asyncio.ensure_future(anext(subscription))
        await asyncio.sleep(0.02)
        store.append("a-1", [NewEvent("a.happened", {"i": 3})])
        hub.poke()
        third = await asyncio.wait_for(live, 2)  # from the hub
        await subscription.aclose()
    finally:
        await hub.stop()
    assert [e.data["i"] for e in (first, second, third)] == [1, 2, 3]
