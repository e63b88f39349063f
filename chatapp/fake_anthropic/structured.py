"""Structured outputs: ``output_config.format`` checked as the real API checks it, and the JSON
a reply then says, made from the schema.

The schema may use what the API documents for structured outputs: the seven JSON types (a
``type`` may be a list of them), ``enum`` and ``const`` of plain values, ``anyOf``, ``allOf``,
``$ref`` to ``#/$defs/...`` or ``#/definitions/...``, ``required``, ``minItems`` of 0 or 1, the
string formats the SDK keeps (``date-time``, ``uuid``, ...). Every object must say
``additionalProperties: false``. Anything else the SDK's own ``transform_schema`` moves into the
description (numeric bounds, string lengths, other formats, a larger ``minItems``) is refused
here, and so is a schema that refers to itself. Each refusal names the node:
``output_config.format.schema.properties.tags.minItems: ...``.

``example_value(schema, seed)`` is a value valid for the schema: every property, both items of
an array, the first enum member or ``anyOf`` branch turned by the seed, strings that quote the
seed text. Same schema and seed, same value.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

from .refusals import ApiRefusal

JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
STRING_FORMATS = {
    "date-time": "2026-01-15T10:30:00Z",
    "date": "2026-01-15",
    "time": "10:30:00",
    "duration": "P1DT2H",
    "email": "demo@example.com",
    "hostname": "example.com",
    "uri": "https://example.com/",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "",  # made from the seed
}
# Keywords that only describe, or that the kinds above use.
_ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$id", "$comment"}
_KEYWORDS = {
    "object": {"properties", "required", "additionalProperties"},
    "array": {"items", "minItems"},
    "string": {"format"},
}
_GENERAL = {"type", "enum", "const", "anyOf", "allOf", "$ref", "$defs", "definitions"}
# Optional properties are filled in only this deep, so that a value stays small.
_OPTIONAL_DEPTH = 4
_WHERE = "output_config.format"


def check_format(output_format: Any) -> dict[str, Any]:
    """The schema of an ``output_config.format``; ``ApiRefusal`` says what is wrong with it."""
    if not isinstance(output_format, dict):
        raise ApiRefusal(f"{_WHERE}: Input should be a valid dictionary")
    if output_format.get("type") != "json_schema":
        raise ApiRefusal(f"{_WHERE}.type: Input should be 'json_schema'")
    extra = sorted(set(output_format) - {"type", "schema"})
    if extra:
        raise ApiRefusal(f"{_WHERE}.{extra[0]}: Extra inputs are not permitted")
    schema = output_format.get("schema")
    if schema is None:
        raise ApiRefusal(f"{_WHERE}.schema: Field required")
    if not isinstance(schema, dict):
        raise ApiRefusal(f"{_WHERE}.schema: Input should be a valid dictionary")
    _Checker(schema).check(schema, f"{_WHERE}.schema", ())
    return schema


class _Checker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: Any, where: str) -> tuple[str, dict[str, Any]]:
        if not isinstance(ref, str):
            raise ApiRefusal(f"{where}.$ref: Input should be a valid string")
        for section in ("$defs", "definitions"):
            prefix = f"#/{section}/"
            if ref.startswith(prefix):
                target = (self.root.get(section) or {}).get(ref[len(prefix) :])
                if isinstance(target, dict):
                    return ref, target
        raise ApiRefusal(
            f"{where}.$ref: '{ref}' is not a definition of this schema; only local references "
            "to #/$defs/... or #/definitions/... are supported"
        )

    def check(self, node: Any, where: str, refs: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            raise ApiRefusal(f"{where}: a schema must be a JSON object")
        for section in ("$defs", "definitions"):
            definitions = node.get(section)
            if definitions is None:
                continue
            if not isinstance(definitions, dict):
                raise ApiRefusal(f"{where}.{section}: Input should be a valid dictionary")
            for name, definition in definitions.items():
                self.check(definition, f"{where}.{section}.{name}", refs)
        if "$ref" in node:
            ref, target = self.resolve(node["$ref"], where)
            if ref in refs:
                raise ApiRefusal(f"{where}.$ref: recursive schemas are not supported ('{ref}')")
            self.check(target, f"{where}.$ref", (*refs, ref))
            return
        types = self.types(node, where)
        allowed = _ANNOTATIONS | _GENERAL
        for kind in types:
            allowed |= _KEYWORDS.get(kind, set())
        for key in node:
            if key not in allowed:
                raise ApiRefusal(
                    f"{where}.{key}: '{key}' is not supported in a structured output schema"
                )
        for key in ("enum", "const"):
            if key in node:
                values = node[key] if key == "enum" else [node[key]]
                if not isinstance(values, list) or not values:
                    raise ApiRefusal(f"{where}.enum: Input should be a non-empty list")
                if not all(v is None or isinstance(v, str | int | float) for v in values):
                    raise ApiRefusal(
                        f"{where}.{key}: only strings, numbers, booleans and null are supported"
                    )
        for key in ("anyOf", "allOf"):
            if key in node:
                branches = node[key]
                if not isinstance(branches, list) or not branches:
                    raise ApiRefusal(f"{where}.{key}: Input should be a non-empty list")
                for index, branch in enumerate(branches):
                    self.check(branch, f"{where}.{key}.{index}", refs)
        if not types and not any(key in node for key in ("enum", "const", "anyOf", "allOf")):
            raise ApiRefusal(
                f"{where}: a schema needs 'type', 'enum', 'const', 'anyOf', 'allOf' or '$ref'"
            )
        if "object" in types:
            self.check_object(node, where, refs)
        if "array" in types:
            if node.get("minItems", 0) not in (0, 1) or isinstance(node.get("minItems"), bool):
                raise ApiRefusal(f"{where}.minItems: only 0 and 1 are supported")
            if "items" in node:
                self.check(node["items"], f"{where}.items", refs)
        if "string" in types and "format" in node and node["format"] not in STRING_FORMATS:
            raise ApiRefusal(
                f"{where}.format: '{node['format']}' is not supported; supported formats: "
                f"{', '.join(STRING_FORMATS)}"
            )

    def types(self, node: dict[str, Any], where: str) -> tuple[str, ...]:
        kind = node.get("type")
        if kind is None:
            return ()
        kinds = kind if isinstance(kind, list) else [kind]
        for item in kinds:
            if item not in JSON_TYPES:
                raise ApiRefusal(
                    f"{where}.type: Input should be {', '.join(repr(t) for t in JSON_TYPES)}"
                )
        return tuple(kinds)

    def check_object(self, node: dict[str, Any], where: str, refs: tuple[str, ...]) -> None:
        if node.get("additionalProperties") is not False:
            raise ApiRefusal(
                f"{where}.additionalProperties: For 'object' type, 'additionalProperties' must "
                "be explicitly set to false"
            )
        properties = node.get("properties", {})
        if not isinstance(properties, dict):
            raise ApiRefusal(f"{where}.properties: Input should be a valid dictionary")
        for name, prop in properties.items():
            self.check(prop, f"{where}.properties.{name}", refs)
        required = node.get("required", [])
        if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
            raise ApiRefusal(f"{where}.required: Input should be a valid list of strings")
        for name in required:
            if name not in properties:
                raise ApiRefusal(f"{where}.required: '{name}' is not one of the properties")


# --- the value a reply gives -----------------------------------------------------------------


def example_value(schema: dict[str, Any], seed: str) -> Any:
    """A value valid for a schema that ``check_format`` accepted, made from ``seed`` (the
    prompt's text): the same schema and seed give the same value."""
    return _Maker(schema, seed).make(schema, "value", 0)


class _Maker:
    def __init__(self, root: dict[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed
        words = " ".join(seed.split()[:6])
        self.quote = words if len(words) <= 40 else words[:40].rstrip() + "…"

    def turn(self, name: str, count: int) -> int:
        """A choice among ``count`` that depends on the seed and the node's name."""
        return zlib.crc32(f"{self.seed}\0{name}".encode()) % count

    def make(self, node: dict[str, Any], name: str, depth: int) -> Any:
        if "$ref" in node:
            return self.make(self.resolve(node["$ref"]), name, depth)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][self.turn(name, len(node["enum"]))]
        if "anyOf" in node:
            branches = node["anyOf"]
            # Prefer a branch that is not null, so that the value says something.
            real = [b for b in branches if b.get("type") != "null"] or branches
            return self.make(real[self.turn(name, len(real))], name, depth)
        if "allOf" in node:
            return self.make_all(node["allOf"], name, depth)
        kinds = node.get("type")
        kind = (
            kinds if isinstance(kinds, str) else next((k for k in kinds if k != "null"), kinds[0])
        )
        return getattr(self, f"make_{kind}")(node, name, depth)

    def resolve(self, ref: str) -> dict[str, Any]:
        section, _, key = ref[2:].partition("/")
        return self.root[section][key]

    def make_all(self, branches: list[dict[str, Any]], name: str, depth: int) -> Any:
        values = [self.make(branch, name, depth) for branch in branches]
        if all(isinstance(value, dict) for value in values):
            merged: dict[str, Any] = {}
            for value in values:
                merged.update(value)
            return merged
        return values[0]

    def make_object(self, node: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
        required = set(node.get("required", []))
        return {
            key: self.make(prop, key, depth + 1)
            for key, prop in node.get("properties", {}).items()
            if key in required or depth < _OPTIONAL_DEPTH
        }

    def make_array(self, node: dict[str, Any], name: str, depth: int) -> list[Any]:
        items = node.get("items")
        if items is None:
            return []
        count = 2 if depth < _OPTIONAL_DEPTH else node.get("minItems", 0)
        return [self.make(items, f"{name} {index + 1}", depth + 1) for index in range(count)]

    def make_string(self, node: dict[str, Any], name: str, depth: int) -> str:
        form = node.get("format")
        if form == "uuid":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.seed}\0{name}"))
        if form in STRING_FORMATS:
            return STRING_FORMATS[form]
        return f"{name} for “{self.quote}”" if self.quote else f"{name} (simulated)"

    def make_integer(self, node: dict[str, Any], name: str, depth: int) -> int:
        return self.turn(name, 100)

    def make_number(self, node: dict[str, Any], name: str, depth: int) -> float:
        return self.turn(name, 1000) / 10 + 0.5

    def make_boolean(self, node: dict[str, Any], name: str, depth: int) -> bool:
        return self.turn(name, 2) == 1

    def make_null(self, node: dict[str, Any], name: str, depth: int) -> None:
        return None
