"""Run the fake API: ``python -m chatapp.fake_anthropic --port 8765 --reply-tokens 300``."""

from __future__ import annotations

import argparse
import asyncio
import signal

from .server import FakeConfig, runner_base_url, serve

_DEFAULTS = FakeConfig()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chatapp.fake_anthropic",
        description="A fake Anthropic Messages API speaking the real wire protocol.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--token-delay",
        type=float,
        default=_DEFAULTS.token_delay,
        help="seconds between text deltas (default %(default)s)",
    )
    parser.add_argument(
        "--first-token-delay",
        type=float,
        default=_DEFAULTS.first_token_delay,
        help="seconds before the first delta (default %(default)s)",
    )
    parser.add_argument(
        "--reply-tokens",
        type=int,
        default=None,
        help="make the default reply exactly N filler tokens instead of the demo text",
    )
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    runner = await serve(
        args.host,
        args.port,
        token_delay=args.token_delay,
        first_token_delay=args.first_token_delay,
        reply_tokens=args.reply_tokens,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"Fake Anthropic API listening on {runner_base_url(runner)}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
