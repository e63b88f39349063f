"""Where the chat's ORM work runs: a small pool of threads, each keeping its database
connection (CONN_MAX_AGE), so that fifty people pressing Enter at once do not queue behind
one thread or pay for fifty new connections (Channels' database_sync_to_async runs every
call in one shared thread)."""

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.CHAT_DB_THREADS, thread_name_prefix="chat-db"
            )
        return _executor


def _call(function, kwargs):
    close_old_connections()
    try:
        return function(**kwargs)
    finally:
        close_old_connections()


async def run_db(function, /, **kwargs):
    """Runs a sync ORM function (keyword arguments only) on the pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(_call, function, kwargs))


def close_all_connections() -> None:
    """Closes the connection of every pool thread (test teardown, shutdown): one task per
    thread, held at a barrier so that each thread takes exactly one."""
    pool = _pool()
    workers = settings.CHAT_DB_THREADS
    barrier = threading.Barrier(workers)

    def close():
        barrier.wait(timeout=10)
        connections.close_all()

    for future in [pool.submit(close) for _ in range(workers)]:
        future.result(timeout=15)
