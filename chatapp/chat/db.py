"""Where the chat's ORM work runs: small pools of threads, each thread keeping its database
connection (CONN_MAX_AGE), so that fifty people pressing Enter at once do not queue behind
one thread or pay for fifty new connections (Channels' database_sync_to_async runs every
call in one shared thread).

Two pools, because the work is of two kinds:
- `run_db`: what a person is waiting on (a send's accept transaction, opening a
  conversation, the login of a socket), on CHAT_DB_THREADS threads;
- `run_settlement`: saving and costing replies that have ended, on CHAT_DB_SETTLE_THREADS
  threads (one by default). When many replies end at once, their settlements run one after
  the other instead of side by side: every thread that runs Python competes with the event
  loop for the GIL, and the event loop is relaying the other replies' last deltas
  (docs/performance.md measures the lag this saves).
"""

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _pool(name: str) -> ThreadPoolExecutor:
    with _lock:
        pool = _pools.get(name)
        if pool is None:
            size = settings.CHAT_DB_THREADS if name == "db" else settings.CHAT_DB_SETTLE_THREADS
            pool = _pools[name] = ThreadPoolExecutor(
                max_workers=size, thread_name_prefix=f"chat-{name}"
            )
        return pool


def _call(function, kwargs):
    close_old_connections()
    try:
        return function(**kwargs)
    finally:
        close_old_connections()


async def run_db(function, /, **kwargs):
    """Runs a sync ORM function (keyword arguments only) that someone is waiting on."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool("db"), functools.partial(_call, function, kwargs))


async def run_settlement(function, /, **kwargs):
    """Runs a sync ORM function that saves what has ended (a reply and its cost)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool("settle"), functools.partial(_call, function, kwargs))


def close_all_connections() -> None:
    """Closes the connection of every pool thread (test teardown, shutdown): one task per
    thread, held at a barrier so that each thread takes exactly one."""
    for name, workers in (
        ("db", settings.CHAT_DB_THREADS),
        ("settle", settings.CHAT_DB_SETTLE_THREADS),
    ):
        pool = _pool(name)
        barrier = threading.Barrier(workers)

        def close(barrier=barrier):
            barrier.wait(timeout=10)
            connections.close_all()

        for future in [pool.submit(close) for _ in range(workers)]:
            future.result(timeout=15)
