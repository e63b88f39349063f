"""Batch jobs sit on top: the usage ledger and the door to Anthropic know nothing of them
(docs/architecture.md), and only the llm app calls the SDK."""

import pytest

from ..test_structure import PACKAGE, imported, modules


@pytest.mark.parametrize("app", ["usage", "llm", "chat"])
def test_no_lower_app_imports_the_batches_app(app):
    found = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in modules(app)
        for name in sorted(imported(path))
        if name.startswith("chatapp.batches")
    ]
    assert found == []


def test_the_batches_app_reaches_anthropic_through_llm_only():
    found = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in modules("batches")
        for name in sorted(imported(path))
        if name.split(".")[0] in ("anthropic", "httpx", "httpx2")
    ]
    assert found == []
