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
    parser.add_argument(
        "--batch-speed",
        type=float,
        default=_DEFAULTS.batch_speed,
        help="requests of a message batch answered per second ('inf': at once; 0: held "
        "still; default %(default)s)",
    )
    parser.add_argument(
        "--batch-live-counts",
        action="store_true",
        help="request counts that move while a batch runs (by default every request counts "
        "as processing until the batch ends, as the API documents)",
    )
    args = parser.parse_args(argv)
    if not args.batch_speed >= 0:
        parser.error("--batch-speed must be a number >= 0 (or inf)")
    return args


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    runner = await serve(
        args.host,
        args.port,
        token_delay=args.token_delay,
        first_token_delay=args.first_token_delay,
        reply_tokens=args.reply_tokens,
        batch_speed=None if args.batch_speed == float("inf") else args.batch_speed,
        batch_live_counts=args.batch_live_counts,
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
