"""What a batch job sends: each request's `params` (the Messages API's, as the batch takes
them), the output schema a job may give and the columns it makes, and what makes two rows
the same request. Pure functions, no database."""

import hashlib
import json
from dataclasses import dataclass

# The shared system prompt is cached for an hour: a batch may take longer than 5 minutes
# to reach the requests that would read it (the API's guide for batches).
CACHE_TTL = "1h"
# What structured output adds to the input besides the schema itself (the API's own
# instructions for it): held in each request's bound.
STRUCTURED_OUTPUT_TOKENS = 1_000
# The API's custom_id: 1 to 64 letters, digits, `_` or `-`.
CUSTOM_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
CUSTOM_ID_MAX = 64


def custom_id_problem(custom_id: str) -> str:
    """Why a custom_id cannot be sent as it is, or "" when it can."""
    if not custom_id or len(custom_id) > CUSTOM_ID_MAX:
        return f"custom_id {custom_id!r} must be 1 to {CUSTOM_ID_MAX} characters long"
    if not set(custom_id) <= CUSTOM_ID_CHARS:
        return f"custom_id {custom_id!r} may only hold letters, digits, _ and -"
    return ""


@dataclass(frozen=True)
class JobSettings:
    """What every request of a job shares."""

    model: str
    max_tokens: int
    system: str = ""
    cache_system: bool = False
    output_schema: dict | None = None

    def params(self, *, prompt: str, system: str) -> dict:
        """One request's params: its prompt, its system prompt (the job's, cached for an
        hour when asked, or the row's own), and the output schema."""
        params = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": prompt}],
        }
        if system:
            if self.cache_system and system == self.system:
                params["system"] = [
                    {
                        "type": "text",
                        "text": system,
                        "cache_control": {"type": "ephemeral", "ttl": CACHE_TTL},
                    }
                ]
            else:
                params["system"] = system
        if self.output_schema is not None:
            params["output_config"] = {
                "format": {"type": "json_schema", "schema": self.output_schema}
            }
        return params

    def input_tokens_at_most(self, *, prompt: str, system: str) -> int:
        """A bound no tokenizer exceeds: one token per UTF-8 byte of the prompt and the
        system prompt, and the schema's bytes and instructions."""
        bound = len(prompt.encode()) + len(system.encode())
        if self.output_schema is not None:
            bound += len(json.dumps(self.output_schema).encode()) + STRUCTURED_OUTPUT_TOKENS
        return bound

    def request_bytes(self, *, custom_id: str, prompt: str, system: str) -> int:
        """The size of the request in the batch's body."""
        request = {"custom_id": custom_id, "params": self.params(prompt=prompt, system=system)}
        return len(json.dumps(request, ensure_ascii=False).encode())


def fingerprint(*, prompt: str, system: str) -> bytes:
    """Rows of one job with the same prompt and system prompt are the same request (the
    other parameters are the job's)."""
    digest = hashlib.sha256(system.encode())
    digest.update(b"\0")
    digest.update(prompt.encode())
    return digest.digest()


# --- structured output ---------------------------------------------------------------------


def schema_parse(text: str) -> dict:
    """The output schema given as JSON text: an object schema with named properties, each
    of which becomes a column of the CSV download. ValueError, with a sentence, otherwise.
    `additionalProperties: false`, which the API needs on every object, is added where it
    is missing."""
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"The schema is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(schema, dict):
        raise ValueError("The schema must be a JSON object.")
    if schema.get("type") != "object":
        raise ValueError('The schema must describe an object ("type": "object").')
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise ValueError('The schema must name its fields in "properties".')
    if any(not name.strip() for name in properties):
        raise ValueError("Each field of the schema needs a name.")
    return _closed(schema)


_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")


def _closed(node):
    """The schema with `additionalProperties: false` on every object that does not say
    otherwise (nested ones too), as structured outputs require."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {}
    for key, value in node.items():
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            closed[key] = {name: _closed(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS or key == "items":
            closed[key] = _closed(value)
        else:
            closed[key] = value
    kinds = node.get("type")
    is_object = kinds == "object" or (isinstance(kinds, list) and "object" in kinds)
    if (is_object or "properties" in node) and "additionalProperties" not in node:
        closed["additionalProperties"] = False
    return closed


def schema_fields(schema: dict | None) -> list[str]:
    """The schema's top-level fields, in its order: one CSV column each."""
    return list((schema or {}).get("properties") or {})


def structured_values(schema: dict | None, output: str) -> dict | None:
    """A structured reply's fields, or None when the reply is not a JSON object."""
    if schema is None or not output:
        return None
    try:
        data = json.loads(output)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def cell_value(value) -> str:
    """A field's value in a CSV cell: text as it is, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
