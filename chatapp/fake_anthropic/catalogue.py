"""The models the fake serves: ``GET /v1/models``, and what ``/v1/messages`` checks against.

Every model is a plain dict shaped exactly as the SDK's ``ModelInfo`` (all of
``ModelCapabilities``' keys and sub-keys present), dated snapshot ids like the real API, newest
first. An alias is a snapshot's id without its date (``claude-sonnet-5`` →
``claude-sonnet-5-20260929``), resolved to the newest snapshot carrying it, as the real API does;
it is never listed.

Tests replace or patch the catalogue through ``Catalogue`` (``POST /_fake/models``): a model given
there may be partial, its missing keys (capabilities included, key by key) come from
``model_defaults``, and the whole is checked with the SDK's own ``ModelInfo``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
from anthropic.types import ModelInfo

LIFECYCLES = ("active", "deprecated", "retired")
EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")
THINKING_TYPES = ("adaptive", "enabled", "disabled", "between_tools")
CONTEXT_STRATEGIES = ("clear_thinking_20251015", "clear_tool_uses_20250919", "compact_20260112")
MODEL_KEYS = tuple(ModelInfo.model_fields)  # the SDK decides which keys a model has

# The fake's own rule, not part of ModelInfo: a cache breakpoint whose prefix is shorter than
# this many tokens is silently not cached. Keyed by the model's `line`; any other line gets 1024.
MIN_CACHEABLE_TOKENS = {"haiku": 2048}
DEFAULT_MIN_CACHEABLE_TOKENS = 1024

_SNAPSHOT_DATE = re.compile(r"-\d{8}$")


def _flag(supported: bool) -> dict[str, bool]:
    return {"supported": supported}


def capabilities(
    *,
    thinking: Iterable[str] = ("disabled",),
    effort: Iterable[str] = (),
    context: Iterable[str] = (),
    image: bool = True,
    pdf: bool = True,
    citations: bool = True,
    batch: bool = True,
    structured_outputs: bool = True,
    web_search: bool = True,
    code_execution_tool: bool = True,
    programmatic_tools: bool = False,
) -> dict[str, Any]:
    """A full ``ModelCapabilities`` object: every key present, each level and type spelled out."""
    thinking, effort, context = set(thinking), set(effort), set(context)
    return {
        "batch": _flag(batch),
        "citations": _flag(citations),
        "code_execution": _flag(programmatic_tools),
        "context_management": {
            "supported": bool(context),
            **{name: _flag(name in context) for name in CONTEXT_STRATEGIES},
        },
        "effort": {
            "supported": bool(effort),
            **{level: _flag(level in effort) for level in EFFORT_LEVELS},
        },
        "image_input": _flag(image),
        "pdf_input": _flag(pdf),
        "server_tools": {
            "supported": web_search or code_execution_tool,
            "web_search": _flag(web_search),
            "code_execution": _flag(code_execution_tool),
        },
        "structured_outputs": _flag(structured_outputs),
        "thinking": {
            "supported": bool(thinking & {"adaptive", "enabled"}),
            "types": {name: _flag(name in thinking) for name in THINKING_TYPES},
        },
    }


def _model(
    model_id: str,
    display_name: str,
    created: str,
    line: str | None,
    max_input_tokens: int,
    max_tokens: int,
    caps: dict[str, Any],
    *,
    lifecycle: str = "active",
    deprecated: str | None = None,
    retires: str | None = None,
) -> dict[str, Any]:
    def stamp(day: str | None) -> str | None:
        return f"{day}T00:00:00Z" if day else None

    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name,
        "created_at": stamp(created),
        "lifecycle": lifecycle,
        "deprecated_at": stamp(deprecated),
        "retires_at": stamp(retires),
        "line": line,
        "max_input_tokens": max_input_tokens,
        "max_tokens": max_tokens,
        "capabilities": caps,
    }


_ALL_CONTEXT = CONTEXT_STRATEGIES


def _newest_capabilities() -> dict[str, Any]:
    """Sonnet 5's, also what a test's partial model gets: adaptive thinking only, effort
    without xhigh, everything else."""
    return capabilities(
        thinking=("adaptive", "disabled", "between_tools"),
        effort=("low", "medium", "high", "max"),
        context=_ALL_CONTEXT,
        programmatic_tools=True,
    )


# The default catalogue, newest first (docs/fake-api.md has it as a table). The deprecations and
# retirement dates of Opus 4.5 and Sonnet 4.5 are the SDK's own (anthropic/_data).
MODELS: tuple[dict[str, Any], ...] = (
    _model(
        "claude-sonnet-5-20260929",
        "Claude Sonnet 5",
        "2026-09-29",
        "sonnet",
        1_000_000,
        64_000,
        _newest_capabilities(),
    ),
    _model(
        "claude-opus-4-8-20260624",
        "Claude Opus 4.8",
        "2026-06-24",
        "opus",
        200_000,
        128_000,
        capabilities(
            thinking=("adaptive", "disabled", "between_tools"),
            effort=EFFORT_LEVELS,
            context=_ALL_CONTEXT,
            programmatic_tools=True,
        ),
    ),
    _model(
        "claude-opus-4-5-20251101",
        "Claude Opus 4.5",
        "2025-11-24",
        "opus",
        200_000,
        64_000,
        capabilities(
            thinking=("enabled", "disabled"),
            effort=("low", "medium", "high"),
            context=("clear_thinking_20251015", "clear_tool_uses_20250919"),
            programmatic_tools=True,
        ),
        lifecycle="deprecated",
        deprecated="2026-10-22",
        retires="2027-01-22",
    ),
    _model(
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        "2025-10-15",
        "haiku",
        200_000,
        64_000,
        capabilities(
            thinking=("enabled", "disabled"),
            context=("clear_thinking_20251015", "clear_tool_uses_20250919"),
        ),
    ),
    _model(
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        "2025-09-29",
        "sonnet",
        200_000,
        64_000,
        capabilities(thinking=("enabled", "disabled"), context=("clear_tool_uses_20250919",)),
        # Past its retirement date yet still deprecated: overdue, as ModelInfo allows.
        lifecycle="deprecated",
        deprecated="2026-09-29",
        retires="2026-11-30",
    ),
    _model(
        "claude-3-7-sonnet-20250219",
        "Claude Sonnet 3.7",
        "2025-02-24",
        "sonnet",
        200_000,
        64_000,
        capabilities(thinking=("enabled", "disabled"), structured_outputs=False),
        lifecycle="retired",
        deprecated="2025-10-28",
        retires="2026-02-19",
    ),
    _model(
        "claude-3-5-haiku-20241022",
        "Claude Haiku 3.5",
        "2024-10-22",
        "haiku",
        200_000,
        8_192,
        capabilities(
            image=False,
            pdf=False,
            structured_outputs=False,
            web_search=False,
            code_execution_tool=False,
        ),
        lifecycle="retired",
        deprecated="2025-12-19",
        retires="2026-02-19",
    ),
)


def alias_of(model_id: str) -> str:
    """A snapshot's alias: its id without the trailing date (an id without one is its own)."""
    return _SNAPSHOT_DATE.sub("", model_id)


def min_cacheable_tokens(model: Mapping[str, Any]) -> int:
    return MIN_CACHEABLE_TOKENS.get(model.get("line") or "", DEFAULT_MIN_CACHEABLE_TOKENS)


def model_defaults(model_id: str) -> dict[str, Any]:
    """What a partial model given by a test is completed with: an active model that can do
    everything but ``enabled`` thinking and ``xhigh`` effort, like the newest, released at the
    epoch (what the real API says of an unknown release date)."""
    return _model(
        model_id,
        model_id,
        "1970-01-01",
        None,
        200_000,
        64_000,
        _newest_capabilities(),
    )


def _merged(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, nested objects merged key by key."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def checked_model(model: dict[str, Any]) -> dict[str, Any]:
    """``model`` if it is a valid ``ModelInfo`` with no key the real API does not send."""
    where = f"model {model.get('id')!r}"
    if unknown := sorted(set(model) - set(MODEL_KEYS)):
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    try:
        ModelInfo.model_validate(model)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        place = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {place}: {first['msg']}") from None
    return model


def completed_model(partial: Any) -> dict[str, Any]:
    """A model object from a test: its missing keys filled from ``model_defaults``, checked."""
    if not isinstance(partial, Mapping) or not isinstance(partial.get("id"), str):
        raise ValueError("a model must be an object with a string 'id'")
    return checked_model(_merged(model_defaults(partial["id"]), partial))


def _newest_first(models: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(models, key=lambda model: (model["created_at"], model["id"]), reverse=True)


class Catalogue:
    """The models the server knows, newest first; touched only from the server's event loop."""

    def __init__(self) -> None:
        self._models: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        self._models = copy.deepcopy(list(MODELS))

    @property
    def models(self) -> list[dict[str, Any]]:
        """Every model, retired ones included, newest first (the server's own list: copy it)."""
        return self._models

    def get(self, model_id: str) -> dict[str, Any] | None:
        """The model with this id, or the newest snapshot whose alias it is."""
        for model in self._models:
            if model["id"] == model_id:
                return model
        for model in self._models:  # newest first: the first match is the alias's target
            if alias_of(model["id"]) == model_id:
                return model
        return None

    def replace(self, models: Iterable[Any]) -> list[dict[str, Any]]:
        completed = [completed_model(model) for model in models]
        ids = [model["id"] for model in completed]
        if len(set(ids)) != len(ids):
            raise ValueError("model ids must be unique")
        self._models = _newest_first(completed)
        return self._models

    def patch(
        self,
        *,
        add: Iterable[Any] = (),
        update: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        """Add models, change some keys of others (by exact id), remove some; all or nothing."""
        by_id = {model["id"]: model for model in self._models}
        for model_id in remove:
            if by_id.pop(model_id, None) is None:
                raise ValueError(f"remove: no model {model_id!r}")
        for model_id, changes in (update or {}).items():
            if model_id not in by_id:
                raise ValueError(f"update: no model {model_id!r}")
            if not isinstance(changes, Mapping) or changes.get("id", model_id) != model_id:
                raise ValueError(f"update: {model_id!r} needs an object of changes, id unchanged")
            by_id[model_id] = checked_model(_merged(by_id[model_id], changes))
        for model in add:
            added = completed_model(model)
            if added["id"] in by_id:
                raise ValueError(f"add: model {added['id']!r} already exists")
            by_id[added["id"]] = added
        self._models = _newest_first(by_id.values())
        return self._models

    def page(
        self,
        *,
        limit: int,
        after_id: str | None = None,
        before_id: str | None = None,
        lifecycles: Iterable[str] = ("active", "deprecated"),
    ) -> dict[str, Any]:
        """One page of ``GET /v1/models``: ``{data, first_id, last_id, has_more}``.

        A cursor is looked up among all models, so it stays valid whatever the filter."""
        wanted = set(lifecycles)
        ids = [model["id"] for model in self._models]
        if before_id is not None:
            earlier = [m for m in self._models[: ids.index(before_id)] if m["lifecycle"] in wanted]
            data, has_more = earlier[-limit:], len(earlier) > limit
        else:
            start = ids.index(after_id) + 1 if after_id is not None else 0
            later = [m for m in self._models[start:] if m["lifecycle"] in wanted]
            data, has_more = later[:limit], len(later) > limit
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


def change_models(catalogue: Catalogue, change: Any) -> list[dict[str, Any]]:
    """Apply ``POST /_fake/models``' body: a list replaces, an object patches."""
    if isinstance(change, list):
        return catalogue.replace(change)
    if isinstance(change, dict) and change and set(change) <= {"add", "update", "remove"}:
        add, update = change.get("add", []), change.get("update", {})
        remove = change.get("remove", [])
        if not (isinstance(add, list) and isinstance(update, dict) and isinstance(remove, list)):
            raise ValueError("'add' is a list of models, 'update' an object, 'remove' ids")
        return catalogue.patch(add=add, update=update, remove=remove)
    raise ValueError(
        "the body is a list of models (the new catalogue) or an object with 'add', "
        "'update' and/or 'remove'"
    )
