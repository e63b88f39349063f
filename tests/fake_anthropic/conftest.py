"""One fake server per test module, reset before each test; a sync SDK client on it."""

import anthropic
import pytest

from chatapp.fake_anthropic.testing import FakeAnthropicServer


@pytest.fixture(scope="module")
def fake():
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake):
    fake.reset()


@pytest.fixture
def client(fake):
    with anthropic.Anthropic(api_key="test-key", base_url=fake.base_url, max_retries=0) as c:
        yield c
