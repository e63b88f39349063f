"""The app's own settings, for the server processes that tests/deploy/test_nginx.py starts,
with a channel-layer prefix of the test's own: the Redis the tests use may be shared, and
conversation ids start again with each test database."""

import os

from chatapp.settings import *  # noqa: F403

CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["CHAT_TEST_CHANNEL_PREFIX"]  # noqa: F405
