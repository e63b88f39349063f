"""The models a user can pick: one list, used by the picker, validation and the admin."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    id: str
    label: str
    max_output_tokens: int


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("claude-opus-4-8", "Claude Opus 4.8", 64_000),
    ModelInfo("claude-sonnet-5", "Claude Sonnet 5", 64_000),
    ModelInfo("claude-haiku-4-5", "Claude Haiku 4.5", 64_000),
)
MODELS_BY_ID = {model.id: model for model in MODELS}


def model_choices() -> list[tuple[str, str]]:
    return [(model.id, model.label) for model in MODELS]


def is_known_model(model_id: str) -> bool:
    return model_id in MODELS_BY_ID
