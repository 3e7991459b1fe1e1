"""Serve an aiohttp app on 127.0.0.1 (port 0) from a thread, for synchronous clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

from aiohttp import web


@contextmanager
def serve_in_thread(make: Callable[[], web.Application]) -> Iterator[str]:
    """Yield the base URL of ``make()`` served by its own event loop in a thread.

    ``make`` runs inside that loop, so the app and its services belong to it.
    """
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[str] = loop.create_future()
    stop = asyncio.Event()

    async def main() -> None:
        runner = web.AppRunner(make(), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        ready.set_result(f"http://127.0.0.1:{port}")
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    url = asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(timeout=30)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()


async def _wait(future: asyncio.Future[str]) -> str:
    return await future


@contextmanager
def context_in_thread(make: Callable[[], AbstractAsyncContextManager[str]]) -> Iterator[str]:
    """Like ``serve_in_thread`` for anything that serves: ``make()`` is entered in the
    thread's loop and yields a base URL (e.g. real nodes and ``serve_api``)."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[str] = loop.create_future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with make() as url:
                ready.set_result(url)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    url = asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(timeout=60)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()
