"""The models a user can pick, from the Models API (synced into ClaudeModel by
`manage.py sync_models`, llm/sync.py): one list, used by the picker, the checks of every
request and the admin.

Until a first sync, the table holds SEED, written by the migration: the models this
project was built against, with their capabilities as the API describes them. A
conversation may name an alias (`claude-sonnet-5`) or a dated snapshot
(`claude-sonnet-5-20260929`): `get` resolves an alias to its newest listed snapshot.
"""

import re
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")
# The keys of the API's `capabilities.thinking.types` and `.context_management`.
THINKING_TYPES = ("adaptive", "enabled", "disabled", "between_tools")
CONTEXT_STRATEGIES = ("clear_thinking_20251015", "clear_tool_uses_20250919", "compact_20260112")
MIN_THINKING_BUDGET = 1024  # the API's least `budget_tokens`
_SNAPSHOT = re.compile(r"^(?P<alias>.+)-\d{8}$")


def _supported(value) -> bool:
    return bool(isinstance(value, dict) and value.get("supported"))


@dataclass(frozen=True)
class ModelInfo:
    id: str
    label: str
    max_output_tokens: int
    max_input_tokens: int | None = None
    lifecycle: str = "active"
    capabilities: dict = field(default_factory=dict)
    visible: bool = True
    listed: bool = True
    line: str = ""
    is_default: bool = False
    synced: bool = False

    @property
    def offered(self) -> bool:
        """Offered in the picker and accepted in a request."""
        return self.visible and self.listed and self.lifecycle != "retired"

    @property
    def deprecated(self) -> bool:
        return self.lifecycle == "deprecated"

    def supports(self, capability: str) -> bool:
        return _supported(self.capabilities.get(capability))

    @property
    def thinking_types(self) -> tuple[str, ...]:
        """The thinking configurations the model takes: `adaptive`, `enabled`."""
        thinking = self.capabilities.get("thinking") or {}
        if not thinking.get("supported"):
            return ()
        types = thinking.get("types") or {}
        return tuple(name for name in ("adaptive", "enabled") if _supported(types.get(name)))

    @property
    def effort_levels(self) -> tuple[str, ...]:
        effort = self.capabilities.get("effort") or {}
        if not effort.get("supported"):
            return ()
        return tuple(level for level in EFFORT_LEVELS if _supported(effort.get(level)))

    def thinking_param(self, max_tokens: int) -> dict:
        """The `thinking` the model takes: adaptive where it can (with its text shown),
        else a budget below `max_tokens`. ValueError, with a sentence, where it cannot."""
        if "adaptive" in self.thinking_types:
            return {"type": "adaptive", "display": "summarized"}
        if "enabled" in self.thinking_types:
            if max_tokens <= MIN_THINKING_BUDGET:
                raise ValueError(
                    f"Thinking on {self.label} needs max_tokens above {MIN_THINKING_BUDGET:,}."
                )
            budget = max(MIN_THINKING_BUDGET, min(max_tokens // 2, max_tokens - 1))
            return {"type": "enabled", "budget_tokens": budget}
        raise ValueError(f"{self.label} does not think before answering.")

    def check_effort(self, effort: str) -> None:
        """ValueError, with a sentence, for an effort level the model does not take."""
        if effort and effort not in self.effort_levels:
            levels = ", ".join(self.effort_levels)
            raise ValueError(
                f"{self.label} takes the effort levels {levels}."
                if levels
                else f"{self.label} has no effort setting."
            )

    def to_dict(self) -> dict:
        """What the page knows of a model."""
        return {
            "id": self.id,
            "label": self.label,
            "deprecated": self.deprecated,
            "max_tokens": self.max_output_tokens,
            "max_input_tokens": self.max_input_tokens,
            "thinking": bool(self.thinking_types),
            "effort_levels": list(self.effort_levels),
            "image_input": self.supports("image_input"),
            "pdf_input": self.supports("pdf_input"),
            "citations": self.supports("citations"),
            "web_search": self.web_search,
        }

    @property
    def web_search(self) -> bool:
        """Takes the web search server tool (and with it web fetch)."""
        return _supported((self.capabilities.get("server_tools") or {}).get("web_search"))


def _capabilities(*, thinking: tuple = (), effort: tuple = (), context: tuple = ()) -> dict:
    """A full ModelCapabilities object, as the API sends it and the SDK's type validates
    it (every key present, each thinking type and effort level spelled out). Thinking can
    always be turned off (`disabled`); `thinking` names the other types the model takes."""
    no = {"supported": False}
    yes = {"supported": True}
    thinking_on = set(thinking) & {"adaptive", "enabled"}
    takes = {*thinking, "disabled"}
    return {
        "batch": yes,
        "citations": yes,
        "code_execution": no,
        "context_management": {
            "supported": bool(context),
            **{name: {"supported": name in context} for name in CONTEXT_STRATEGIES},
        },
        "effort": {
            "supported": bool(effort),
            **{level: {"supported": level in effort} for level in EFFORT_LEVELS},
        },
        "image_input": yes,
        "pdf_input": yes,
        "server_tools": {
            "supported": True,
            "web_search": yes,
            "code_execution": no,
        },
        "structured_outputs": yes,
        "thinking": {
            "supported": bool(thinking_on),
            "types": {name: {"supported": name in takes} for name in THINKING_TYPES},
        },
    }


# The models of the seed migration (and of the fake's aliases), newest first.
SEED: tuple[ModelInfo, ...] = (
    ModelInfo(
        "claude-sonnet-5",
        "Claude Sonnet 5",
        64_000,
        1_000_000,
        line="sonnet",
        is_default=True,
        capabilities=_capabilities(
            thinking=("adaptive", "between_tools"),
            effort=("low", "medium", "high", "max"),
            context=CONTEXT_STRATEGIES,
        ),
    ),
    ModelInfo(
        "claude-opus-4-8",
        "Claude Opus 4.8",
        64_000,
        200_000,
        line="opus",
        capabilities=_capabilities(
            thinking=("adaptive", "between_tools"), effort=EFFORT_LEVELS, context=CONTEXT_STRATEGIES
        ),
    ),
    ModelInfo(
        "claude-haiku-4-5",
        "Claude Haiku 4.5",
        64_000,
        200_000,
        line="haiku",
        capabilities=_capabilities(
            thinking=("enabled",), context=("clear_thinking_20251015", "clear_tool_uses_20250919")
        ),
    ),
)

# --- the table, kept in memory a few seconds per process --------------------------------

_lock = threading.Lock()
_kept: dict = {}


def forget(**kwargs) -> None:
    """Drops what this process keeps (a signal receiver: a model saved or deleted)."""
    with _lock:
        _kept.clear()


def models() -> list[ModelInfo]:
    """Every model of the table, newest first."""
    now = time.monotonic()
    with _lock:
        hit = _kept.get("models")
        if hit is not None and hit[0] > now:
            return hit[1]
    from .models import ClaudeModel

    loaded = [
        ModelInfo(
            id=row.id,
            label=row.display_name,
            max_output_tokens=row.max_tokens or 4096,
            max_input_tokens=row.max_input_tokens,
            lifecycle=row.lifecycle,
            capabilities=row.capabilities,
            visible=row.visible,
            listed=row.listed,
            line=row.line,
            is_default=row.is_default,
            synced=row.synced_at is not None,
        )
        for row in ClaudeModel.objects.all()
    ]
    with _lock:
        _kept["models"] = (now + settings.USAGE_SETTINGS_CACHE_SECONDS, loaded)
    return loaded


def get(model_id: str) -> ModelInfo | None:
    """A model by its id, or an alias's newest listed snapshot."""
    known = models()
    exact = next((m for m in known if m.id == model_id), None)
    if exact is not None and exact.listed:
        return exact
    snapshots = [
        m
        for m in known
        if m.listed and (match := _SNAPSHOT.match(m.id)) and match["alias"] == model_id
    ]
    if snapshots:
        return max(snapshots, key=lambda m: m.id)
    return exact


def offered() -> list[ModelInfo]:
    """The picker's models: active or deprecated, visible, still listed by the API."""
    return [model for model in models() if model.offered]


def is_known_model(model_id: str) -> bool:
    model = get(model_id)
    return model is not None and model.offered


def default_model_id() -> str:
    """The admin's default, else CHAT_DEFAULT_MODEL, else the newest offered model."""
    choices = offered()
    chosen = next((m.id for m in choices if m.is_default), None)
    if chosen:
        return chosen
    if is_known_model(settings.CHAT_DEFAULT_MODEL):
        return settings.CHAT_DEFAULT_MODEL
    return choices[0].id if choices else settings.CHAT_DEFAULT_MODEL


def model_choices() -> list[tuple[str, str]]:
    return [(model.id, model.label) for model in offered()]
