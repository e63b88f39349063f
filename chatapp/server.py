"""daphne, as this app runs it: `python -m chatapp.server` takes daphne's own arguments.

One change to daphne's defaults: a WebSocket message over the size limit
(`--websocket-max-message-size`, 1 MiB by default) ends the socket with a close frame
carrying code 1009 ("message too big", docs/protocol.md), so the tab can tell the person
why, where daphne's own setting drops the TCP connection without a word."""

from daphne import server as daphne_server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory


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
