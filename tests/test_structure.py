"""The way dependencies point (docs/architecture.md), checked on the source itself, so that
a later change cannot quietly bend it."""

import ast
import importlib
import re
from pathlib import Path

import pytest

from .chat.test_protocol import CLIENT, LAYER, SERVER

PACKAGE = Path(__file__).resolve().parents[1] / "chatapp"


def modules(app: str):
    for path in sorted((PACKAGE / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def imported(path: Path) -> set[str]:
    """The absolute names of the modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("app", "forbidden"),
    [
        ("usage", ("chatapp.chat",)),  # usage is the leaf app: chat calls it, never back
        ("llm", ("chatapp.chat", "chatapp.usage")),  # the door to Anthropic knows no app
    ],
)
def test_an_app_imports_nothing_from_the_apps_that_use_it(app, forbidden):
    found = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in modules(app)
        for name in sorted(imported(path))
        if name.startswith(forbidden)
    ]
    assert found == []


def test_usage_templates_name_no_chat_page():
    templates = PACKAGE.parent / "templates" / "admin" / "usage"
    for path in templates.rglob("*.html"):
        assert "chat_" not in path.read_text(), path


def test_frames_are_built_only_in_the_protocol_module():
    """A dict literal whose "type" is a documented frame or channel-layer message type:
    protocol.py builds them all (docs/protocol.md)."""
    kinds = set(SERVER) | set(CLIENT) | set(LAYER)
    found = []
    for path in modules("chat"):
        if path.name == "protocol.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant)
                and key.value == "type"
                and isinstance(value, ast.Constant)
                and value.value in kinds
                for key, value in zip(node.keys, node.values, strict=True)
            ):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_the_imports_are_read_as_python_reads_them():
    """The checks above would pass vacuously if the import reader missed imports."""
    names = imported(PACKAGE / "chat" / "services.py")
    assert "chatapp.usage.services" in names and "chatapp.chat.models.Conversation" in names


def test_the_token_fields_follow_their_one_declaration():
    """The ledger's token kinds are pricing.TokenUsage's fields; a message's usage is the
    API's usage block (llm.stream.USAGE_FIELDS)."""
    from dataclasses import fields

    from chatapp.chat.models import Message
    from chatapp.llm.stream import USAGE_FIELDS
    from chatapp.usage.models import UsageDaily, UsageRecord
    from chatapp.usage.pricing import TOKEN_FIELDS, TOKEN_LABELS
    from chatapp.usage.report import Sums

    def columns(model):
        return {f.name for f in model._meta.fields if f.name.endswith("_tokens")}

    assert columns(UsageRecord) == columns(UsageDaily) == set(TOKEN_FIELDS)
    assert set(TOKEN_FIELDS) <= {f.name for f in fields(Sums)}
    assert columns(Message) == set(USAGE_FIELDS) == set(Message().usage)
    # The report's token columns: headers and cells both follow TOKEN_FIELDS.
    assert tuple(TOKEN_LABELS) == TOKEN_FIELDS


def test_the_client_adds_up_the_usage_fields_the_server_sends():
    """static/chat/protocol.js keeps its own copy of llm.stream.USAGE_FIELDS (a page's
    scripts cannot import Python): the two must stay equal."""
    from chatapp.llm.stream import USAGE_FIELDS

    script = (PACKAGE.parent / "static" / "chat" / "protocol.js").read_text()
    declared = re.search(r"export const USAGE_FIELDS = \[([^\]]*)\]", script)
    assert declared, "protocol.js no longer declares USAGE_FIELDS"
    assert tuple(re.findall(r'"([a-z_]+)"', declared[1])) == USAGE_FIELDS


def defines_code(node: ast.ClassDef) -> bool:
    """Whether a class sets `code` itself: as a class attribute or as `self.code`."""
    for child in ast.walk(node):
        targets = []
        if isinstance(child, ast.Assign):
            targets = child.targets
        elif isinstance(child, ast.AnnAssign):
            targets = [child.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "code" and child in node.body:
                return True
            if (
                isinstance(target, ast.Attribute)
                and target.attr == "code"
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                return True
    return False


def test_every_error_with_a_code_is_an_app_error():
    """One base error class (chatapp/errors.py): an exception that carries a code for the
    user derives from AppError instead of keeping its own code and message."""
    from chatapp.errors import AppError

    checked, found = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent)
        if "fake_anthropic" in relative.parts or "migrations" in relative.parts:
            continue
        classes = [
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef) and defines_code(node)
        ]
        if not classes:
            continue
        module = importlib.import_module(".".join(relative.with_suffix("").parts))
        for name in classes:
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                checked.append(name)
                if not issubclass(cls, AppError):
                    found.append(f"{relative}: {name}")
    assert "AppError" in checked  # the reader sees a code where there is one
    assert found == []


def test_every_read_only_admin_uses_the_one_read_only_base():
    """An admin or inline that shows only read-only fields takes its permissions from
    chatapp/readonly_admin.py instead of repeating them by hand."""
    from django.contrib import admin

    from chatapp.readonly_admin import ReadOnlyAdminMixin

    shown = [
        (model_admin.__class__, model_admin.fields, model_admin.readonly_fields)
        for model_admin in admin.site._registry.values()
    ]
    shown += [
        (inline, inline.fields, inline.readonly_fields)
        for model_admin in admin.site._registry.values()
        for inline in model_admin.inlines
    ]
    read_only = [cls for cls, fields, readonly in shown if fields and set(fields) <= set(readonly)]
    assert len(read_only) >= 3  # the conversation's, the messages inline, the rate limits'
    found = [cls.__qualname__ for cls in read_only if not issubclass(cls, ReadOnlyAdminMixin)]
    assert found == []


def test_chat_reads_and_writes_the_ledger_only_through_usage():
    """chat calls usage's services and selectors: it never queries usage's models itself
    (their managers), so the ledger's rules stay in one app."""
    usage_models = {
        node.name
        for node in ast.walk(ast.parse((PACKAGE / "usage" / "models.py").read_text()))
        if isinstance(node, ast.ClassDef)
    }
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.value.id}.{node.attr}"
        for path in modules("chat")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in ("objects", "_default_manager")
        and isinstance(node.value, ast.Name)
        and node.value.id in usage_models
    ]
    assert found == []
