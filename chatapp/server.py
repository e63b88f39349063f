"""daphne, as this app runs it: `python -m chatapp.server` takes daphne's own arguments.

One change to daphne's defaults: a WebSocket message over the size limit
(`--websocket-max-message-size`, 1 MiB by default) ends the socket with a close frame
carrying code 1009 ("message too big", docs/protocol.md), so the tab can tell the person
why, where daphne's own setting drops the TCP connection without a word.

One option: `CHAT_UVLOOP=true` runs daphne's Twisted reactor on a uvloop event loop
(`pip install uvloop`; off by default, issue 15, docs/performance.md). daphne installs
Twisted's asyncio reactor when `daphne.server` is first imported, unless an asyncio
reactor is already installed; so this one is installed first, on a uvloop loop."""

import os


def install_uvloop_reactor() -> None:
    import uvloop
    from twisted.internet import asyncioreactor

    loop = uvloop.new_event_loop()
    if "ASGI_THREADS" in os.environ:  # as daphne does for its own loop
        from concurrent.futures import ThreadPoolExecutor

        loop.set_default_executor(ThreadPoolExecutor(max_workers=int(os.environ["ASGI_THREADS"])))
    asyncioreactor.install(loop)


if os.environ.get("CHAT_UVLOOP", "").strip().lower() in {"1", "true", "yes", "on"}:
    install_uvloop_reactor()

from daphne import server as daphne_server  # noqa: E402  (after the reactor choice)
from daphne.cli import CommandLineInterface  # noqa: E402
from daphne.ws_protocol import WebSocketFactory  # noqa: E402


class ClosingWebSocketFactory(WebSocketFactory):
    def setProtocolOptions(self, **options):
        options.setdefault("failByDrop", False)
        super().setProtocolOptions(**options)


def main() -> None:
    # daphne builds its factory inside Server.run, from the name its module imported.
    daphne_server.WebSocketFactory = ClosingWebSocketFactory
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
