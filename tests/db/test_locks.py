"""The group lock: one holder at a time, stale locks are taken over."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from dsa110.db import LockHeldError, acquire_lock, hold_lock, refresh_lock, release_lock

HOUR = dt.timedelta(hours=1)


def test_one_holder_at_a_time(session_factory):
    assert acquire_lock(session_factory, "group:A", owner="p1", ttl=HOUR)
    assert not acquire_lock(session_factory, "group:A", owner="p2", ttl=HOUR)
    assert acquire_lock(session_factory, "group:B", owner="p2", ttl=HOUR)
    assert not release_lock(session_factory, "group:A", owner="p2")
    assert release_lock(session_factory, "group:A", owner="p1")
    assert acquire_lock(session_factory, "group:A", owner="p2", ttl=HOUR)


def test_stale_lock_is_recovered(session_factory):
    assert acquire_lock(
        session_factory, "g", owner="dead", ttl=-dt.timedelta(seconds=1)
    )
    assert acquire_lock(session_factory, "g", owner="alive", ttl=HOUR)
    assert not refresh_lock(session_factory, "g", owner="dead", ttl=HOUR)
    assert refresh_lock(session_factory, "g", owner="alive", ttl=HOUR)


def test_hold_lock_context(session_factory):
    with hold_lock(session_factory, "g") as owner:
        with pytest.raises(LockHeldError, match="held by another process"):
            with hold_lock(session_factory, "g"):
                pass
        assert refresh_lock(session_factory, "g", owner=owner, ttl=HOUR)
    with hold_lock(session_factory, "g"):
        pass


def test_concurrent_acquire_has_one_winner(session_factory):
    winners = []
    barrier = threading.Barrier(6)

    def worker(k):
        barrier.wait()
        if acquire_lock(session_factory, "race", owner=f"w{k}", ttl=HOUR):
            winners.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_heartbeat_keeps_a_short_lock_alive(session_factory):
    import time

    ttl = dt.timedelta(seconds=0.6)
    with hold_lock(session_factory, "hb", ttl=ttl):
        time.sleep(1.5)  # well past the ttl: only the heartbeat keeps it
        assert not acquire_lock(session_factory, "hb", owner="other", ttl=HOUR)
    assert acquire_lock(session_factory, "hb", owner="other", ttl=HOUR)


def test_database_facade(db_url):
    from dsa110.db import Database, ObservationRepository

    db = Database.open(db_url)
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with db.lock("group:g1") as owner, db.session() as session:
        ObservationRepository(session).add(
            "g1", start_time=t0, end_time=t0, dec_deg=1.0
        )
        assert owner
    with db.session() as session:
        assert ObservationRepository(session).get_by_group("g1").dec_deg == 1.0
    db.close()


def test_lock_of_a_dead_process_is_taken_over_at_once(session_factory):
    import os
    import socket
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer exists (reuse within the test is negligible)
    dead = f"{socket.gethostname()}:{child.pid}:deadbeef"
    alive = f"{socket.gethostname()}:{os.getppid()}:cafe"
    assert acquire_lock(session_factory, "tile:X", owner=dead, ttl=HOUR)
    assert acquire_lock(session_factory, "tile:X", owner="me", ttl=HOUR)
    # A live process's lock (this test's parent) is respected until it expires.
    assert acquire_lock(session_factory, "tile:Y", owner=alive, ttl=HOUR)
    assert not acquire_lock(session_factory, "tile:Y", owner="me", ttl=HOUR)
    # Another host's process cannot be checked: only expiry frees it.
    assert acquire_lock(
        session_factory, "tile:Z", owner=f"elsewhere:{child.pid}:x", ttl=HOUR
    )
    assert not acquire_lock(session_factory, "tile:Z", owner="me", ttl=HOUR)


def test_hold_lock_waits_for_the_holder(session_factory):
    """Critical sections that must run one at a time queue up instead of failing."""
    inside, order = threading.Lock(), []

    def section(i):
        with hold_lock(session_factory, "variability", wait=30.0, heartbeat=False):
            assert inside.acquire(blocking=False), "two holders at once"
            order.append(i)
            time.sleep(0.1)
            inside.release()

    threads = [threading.Thread(target=section, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(order) == [0, 1, 2, 3]
    with hold_lock(session_factory, "variability", heartbeat=False):
        start = time.monotonic()
        with pytest.raises(LockHeldError):
            with hold_lock(session_factory, "variability", wait=0.3):
                pass
        assert 0.3 <= time.monotonic() - start < 3.0
