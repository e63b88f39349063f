"""The socket protocol fuzzed (Hypothesis): whatever a tab sends, the socket keeps
answering, every refusal is a documented error code, and nothing internal (a traceback,
an exception's text) is ever sent or logged."""

import asyncio
import json
import logging
import re
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chatapp.chat import protocol

from .helpers import receive_until

EXAMPLES = 2000
SENTINEL = 2_000_000_000  # a conversation nobody has: its `open` is always refused
DOCUMENTED = set(
    re.findall(
        r"^\| `([a-z_*]+)` \|", (Path(__file__).parents[2] / "docs/protocol.md").read_text(), re.M
    )
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["\ud800", "a\udfffb", "", " ", "00000000-0000-0000-0000-000000000000"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "conversation_id",
    "message_id",
    "text",
    "client_id",
    "model",
    "system",
    "thinking",
    "effort",
    "web_search",
    "attachments",
]
frames = st.fixed_dictionaries(
    {"type": st.sampled_from([*protocol.CLIENT_TYPES, "shout", "", 3, None])},
    optional={name: values for name in FIELDS},
)


def raw(frame: dict) -> str:
    # ensure_ascii escapes lone surrogates as \udXXX, as a hostile tab would send them.
    return json.dumps(frame, ensure_ascii=True)


texts = st.one_of(
    frames.map(raw),
    st.text(max_size=60),  # not JSON at all, or JSON that is not an object
    st.sampled_from(["[" * 3000 + "]" * 3000, '{"type":"open","conversation_id":1e400}', "null"]),
)


async def test_the_socket_answers_every_frame_and_never_leaks_its_insides(
    fake_api, sockets, owner, caplog, settings
):
    settings.CHAT_SOCKET_FRAME_BURST = 10**9  # the flood limit has its own test
    tab = await sockets(owner)
    loop = asyncio.get_running_loop()
    sent = 0

    async def exchange(text: str) -> None:
        nonlocal sent
        await tab.send_input({"type": "websocket.receive", "text": text})
        await tab.send_json_to({"type": "open", "conversation_id": SENTINEL})
        answered = await receive_until(tab, "error", wait=10)
        while not (
            answered[-1]["type"] == "error" and answered[-1].get("conversation_id") == SENTINEL
        ):
            answered += await receive_until(tab, "error", wait=10)
        sent += 1
        for frame in answered:
            if frame["type"] == "error":
                code = frame["code"]
                assert code in DOCUMENTED or code.startswith("upstream_"), frame
                assert code != "internal_error", (text, frame)
            encoded = json.dumps(frame)
            assert "Traceback" not in encoded and 'File "' not in encoded

    # Hypothesis runs in a thread; each example is exchanged on the test's event loop,
    # over the one socket, which must keep answering from the first example to the last.
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(text=texts)
    def check(text):
        asyncio.run_coroutine_threadsafe(exchange(text), loop).result(timeout=60)

    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(check)
    assert sent >= EXAMPLES
    assert not [r for r in caplog.records if r.exc_info], "a frame made the server log a traceback"
