"""Structured outputs (``output_config.format``): the schema checked as the API checks it, and
a reply that is JSON valid for it, read back by the SDK's own parsing (``messages.parse`` and
``messages.stream`` with ``output_format``, pydantic underneath)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Literal
from uuid import UUID

import anthropic
import pydantic
import pytest

from chatapp.fake_anthropic.prompt import STRUCTURED_OUTPUT_TOKENS

from .helpers import MODEL


class Address(pydantic.BaseModel):
    city: str
    postcode: str | None = None


class Person(pydantic.BaseModel):
    name: str
    age: int
    height_m: float
    retired: bool
    colour: Literal["red", "green", "blue"]
    tags: list[str]
    born: datetime
    id: UUID
    home: Address
    past_homes: list[Address] = []


def ask(text):
    return [{"role": "user", "content": text}]


def json_format(schema):
    return {"format": {"type": "json_schema", "schema": schema}}


FLAT = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["label", "score"],
    "additionalProperties": False,
}


def test_a_reply_is_json_of_the_schema_the_sdk_parses(client):
    message = client.messages.parse(
        model=MODEL, max_tokens=2000, messages=ask("Describe Ada Lovelace"), output_format=Person
    )
    person = message.parsed_output
    assert isinstance(person, Person)
    assert person.colour in ("red", "green", "blue")
    assert len(person.tags) == 2 and len(person.past_homes) == 2
    assert "Describe Ada Lovelace" in person.name  # strings quote the prompt
    assert message.stop_reason == "end_turn"
    assert json.loads(message.content[0].text) == person.model_dump(mode="json")


def test_the_same_prompt_gives_the_same_json_and_another_prompt_may_not(client):
    def text(prompt):
        message = client.messages.create(
            model=MODEL, max_tokens=500, messages=ask(prompt), output_config=json_format(FLAT)
        )
        return message.content[0].text

    assert text("Classify: good") == text("Classify: good")
    assert json.loads(text("Classify: bad"))["label"] == "label for “Classify: bad”"


def test_a_streamed_reply_is_the_same_json(client):
    with client.messages.stream(
        model=MODEL, max_tokens=2000, messages=ask("Describe Ada Lovelace"), output_format=Person
    ) as stream:
        streamed = stream.get_final_message()
    whole = client.messages.parse(
        model=MODEL, max_tokens=2000, messages=ask("Describe Ada Lovelace"), output_format=Person
    )
    assert streamed.parsed_output == whole.parsed_output


@pytest.mark.parametrize(
    ("schema", "value_check"),
    [
        ({"enum": ["a", "b", 3, None]}, lambda v: v in ("a", "b", 3, None)),
        ({"const": "fixed"}, lambda v: v == "fixed"),
        ({"type": ["string", "null"]}, lambda v: isinstance(v, str)),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, lambda v: isinstance(v, int)),
        ({"type": "array", "items": {"type": "boolean"}, "minItems": 1}, lambda v: len(v) == 2),
        ({"type": "string", "format": "date"}, lambda v: v == "2026-01-15"),
        ({"type": "number"}, lambda v: isinstance(v, float)),
        (
            {
                "allOf": [
                    {
                        "type": "object",
                        "properties": {"a": {"type": "integer"}},
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"b": {"type": "null"}},
                        "additionalProperties": False,
                    },
                ]
            },
            lambda v: set(v) == {"a", "b"} and v["b"] is None,
        ),
    ],
)
def test_each_kind_of_node_gets_a_value_of_its_kind(client, schema, value_check):
    wrapped = {
        "type": "object",
        "properties": {"value": schema},
        "required": ["value"],
        "additionalProperties": False,
    }
    message = client.messages.create(
        model=MODEL, max_tokens=500, messages=ask("Go"), output_config=json_format(wrapped)
    )
    assert value_check(json.loads(message.content[0].text)["value"])


def test_the_schema_is_input_counted_as_count_tokens_counts_it(client):
    canonical = json.dumps(FLAT, sort_keys=True, separators=(",", ":"))
    schema_tokens = math.ceil(len(canonical) / 4) + STRUCTURED_OUTPUT_TOKENS
    plain = client.messages.count_tokens(model=MODEL, messages=ask("Rate this")).input_tokens
    counted = client.messages.count_tokens(
        model=MODEL, messages=ask("Rate this"), output_config=json_format(FLAT)
    ).input_tokens
    assert counted == plain + schema_tokens
    message = client.messages.create(
        model=MODEL, max_tokens=500, messages=ask("Rate this"), output_config=json_format(FLAT)
    )
    assert message.usage.input_tokens == counted
    # The app holds the schema's bytes and 1,000 tokens for it: the fake stays under that.
    assert schema_tokens <= len(json.dumps(FLAT).encode()) + 1_000


def test_a_scenario_text_wins_and_max_tokens_cuts_the_json(fake, client):
    fake.enqueue({"kind": "reply", "text": "Not JSON at all."})
    first = client.messages.create(
        model=MODEL, max_tokens=500, messages=ask("Go"), output_config=json_format(FLAT)
    )
    assert first.content[0].text == "Not JSON at all."
    cut = client.messages.create(
        model=MODEL, max_tokens=3, messages=ask("Go"), output_config=json_format(FLAT)
    )
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content[0].text)


def _object(**properties):
    return {"type": "object", "properties": properties, "additionalProperties": False}


@pytest.mark.parametrize(
    ("output_format", "message"),
    [
        ({"type": "json", "schema": FLAT}, "output_config.format.type: Input should be"),
        ({"type": "json_schema"}, "output_config.format.schema: Field required"),
        ({"type": "json_schema", "schema": []}, "output_config.format.schema: Input should be"),
        (
            {"type": "json_schema", "schema": {"type": "object", "properties": {}}},
            "output_config.format.schema.additionalProperties: For 'object' type, "
            "'additionalProperties' must be explicitly set to false",
        ),
        (
            {"type": "json_schema", "schema": _object(inner={"type": "object"})},
            "output_config.format.schema.properties.inner.additionalProperties:",
        ),
        (
            {"type": "json_schema", "schema": _object(name={"type": "string", "minLength": 2})},
            "output_config.format.schema.properties.name.minLength: 'minLength' is not supported",
        ),
        (
            {"type": "json_schema", "schema": _object(n={"type": "integer", "maximum": 9})},
            "properties.n.maximum: 'maximum' is not supported",
        ),
        (
            {"type": "json_schema", "schema": _object(x={"type": "array", "minItems": 2})},
            "properties.x.minItems: only 0 and 1 are supported",
        ),
        (
            {"type": "json_schema", "schema": _object(x={"type": "string", "format": "iban"})},
            "properties.x.format: 'iban' is not supported",
        ),
        (
            {"type": "json_schema", "schema": _object(x={"type": "decimal"})},
            "properties.x.type: Input should be",
        ),
        (
            {"type": "json_schema", "schema": _object(x={"$ref": "#/$defs/Missing"})},
            "properties.x.$ref: '#/$defs/Missing' is not a definition of this schema",
        ),
        (
            {
                "type": "json_schema",
                "schema": {
                    "$defs": {"Node": _object(next={"$ref": "#/$defs/Node"})},
                    "$ref": "#/$defs/Node",
                },
            },
            "recursive schemas are not supported",
        ),
    ],
)
def test_a_schema_the_api_does_not_take_is_refused(client, output_format, message):
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(
            model=MODEL, max_tokens=100, messages=ask("Go"), output_config={"format": output_format}
        )
    assert message in refused.value.api_message
