"""A database-backed named lock with expiry: one run per group at a time."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import socket
import threading
import time
import uuid

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dsa110.db.models import Lock, utcnow
from dsa110.errors import DSA110Error

__all__ = [
    "LockHeldError",
    "acquire_lock",
    "release_lock",
    "refresh_lock",
    "hold_lock",
    "default_owner",
]


class LockHeldError(DSA110Error, RuntimeError):
    """Another live process holds the lock."""


def default_owner() -> str:
    """Return an owner string unique to this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lock(
    factory: sessionmaker[Session], name: str, *, owner: str, ttl: _dt.timedelta
) -> bool:
    """Try to take lock ``name`` for ``ttl``; a stale lock is taken over.

    A lock is stale once past its expiry, or at once when its owner is a process
    on this host that no longer exists (a killed worker: its task is retried
    straight away instead of waiting out the expiry). Each step is a single
    statement (an INSERT, then a conditional UPDATE on the owner seen), so two
    processes can never both succeed.

    Returns
    -------
    bool
        Whether ``owner`` now holds the lock.
    """
    now = utcnow()
    values = {"owner": owner, "acquired_at": now, "expires_at": now + ttl}
    with factory() as session:
        try:
            session.execute(insert(Lock).values(name=name, **values))
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
        result = session.execute(
            update(Lock)
            .where(Lock.name == name, Lock.expires_at < now)
            .values(**values)
        )
        session.commit()
        if result.rowcount == 1:
            return True
        held_by = session.scalar(select(Lock.owner).where(Lock.name == name))
        if held_by is None or not _owner_is_dead(held_by):
            return False
        result = session.execute(
            update(Lock)
            .where(Lock.name == name, Lock.owner == held_by)
            .values(**values)
        )
        session.commit()
        return result.rowcount == 1


def _owner_is_dead(owner: str) -> bool:
    """Tell whether ``owner`` (``host:pid[:...]``) is a gone process of this host."""
    parts = owner.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def refresh_lock(
    factory: sessionmaker[Session], name: str, *, owner: str, ttl: _dt.timedelta
) -> bool:
    """Push the expiry of a lock ``owner`` holds to now + ``ttl``; False if lost."""
    with factory() as session:
        result = session.execute(
            update(Lock)
            .where(Lock.name == name, Lock.owner == owner)
            .values(expires_at=utcnow() + ttl)
        )
        session.commit()
        return result.rowcount == 1


def release_lock(factory: sessionmaker[Session], name: str, *, owner: str) -> bool:
    """Release a lock ``owner`` holds; False if it was not held by ``owner``."""
    with factory() as session:
        result = session.execute(
            delete(Lock).where(Lock.name == name, Lock.owner == owner)
        )
        session.commit()
        return result.rowcount == 1


@contextlib.contextmanager
def hold_lock(
    factory: sessionmaker[Session],
    name: str,
    *,
    ttl: _dt.timedelta = _dt.timedelta(minutes=10),
    owner: str | None = None,
    heartbeat: bool = True,
    wait: float = 0.0,
):
    """Hold lock ``name`` for the ``with`` block; yields the owner string.

    Parameters
    ----------
    factory : sessionmaker
        Sessions on the database holding the ``locks`` table.
    name : str
        Lock name, e.g. ``"group:2026-03-01T12:00:00"``.
    ttl : timedelta
        How long the lock outlives its holder: a process that dies leaves a
        lock that others take over once ``ttl`` has passed.
    owner : str, optional
        Owner string (default :func:`default_owner`).
    heartbeat : bool
        Refresh the lock every ``ttl / 3`` from a background thread while the
        block runs, so that long runs keep it however long they take.
    wait : float
        Seconds to wait for a held lock (polled, 0.05 s doubling to 1 s);
        0, the default, gives up at once.

    Raises
    ------
    LockHeldError
        If another owner holds a lock that has not expired (after ``wait``).
    """
    owner = owner or default_owner()
    deadline = time.monotonic() + wait
    pause = 0.05
    while not acquire_lock(factory, name, owner=owner, ttl=ttl):
        if time.monotonic() >= deadline:
            raise LockHeldError(
                f"lock {name!r} is held by another process; it is released when "
                "that run ends or taken over after it expires"
            )
        time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(2 * pause, 1.0)
    stop = threading.Event()
    thread = None
    if heartbeat:

        def beat():
            while not stop.wait(ttl.total_seconds() / 3):
                try:
                    refresh_lock(factory, name, owner=owner, ttl=ttl)
                except Exception:  # a missed beat is retried; expiry is the fallback
                    pass

        thread = threading.Thread(
            target=beat, name=f"lock-heartbeat-{name}", daemon=True
        )
        thread.start()
    try:
        yield owner
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        release_lock(factory, name, owner=owner)
