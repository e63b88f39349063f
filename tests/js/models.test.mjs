// The models offered, as the picker and the settings panel use them (static/chat/models.js).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  allowedSettings, effortLabel, findModel, keptSettings, modelChangeFields, optionLabel, pickerChoice,
} from "../../static/chat/models.js";

const model = (id, fields = {}) => ({
  id, label: id, deprecated: false, max_tokens: 64000, max_input_tokens: 200000,
  thinking: false, effort_levels: [], ...fields,
});
const SONNET = model("claude-sonnet-5", { thinking: true, effort_levels: ["low", "medium", "high", "max"], web_search: true });
const OPUS = model("claude-opus-4-8", { thinking: true, effort_levels: ["low", "medium", "high", "xhigh", "max"], web_search: true });
const HAIKU = model("claude-haiku-4-5", { thinking: true });
const OLD = model("claude-3-7-sonnet-20250219", { label: "Claude Sonnet 3.7", deprecated: true });
const MODELS = [SONNET, OPUS, HAIKU, OLD];

describe("which model a conversation is on", () => {
  test("by its id, or an alias by its newest dated snapshot, as the server resolves it", () => {
    const snapshots = [model("claude-sonnet-5-20260101"), model("claude-sonnet-5-20260929"), model("claude-sonnet-5-x")];
    assert.equal(findModel(MODELS, "claude-opus-4-8"), OPUS);
    assert.equal(findModel(snapshots, "claude-sonnet-5").id, "claude-sonnet-5-20260929");
    assert.equal(findModel(snapshots, "claude-sonnet"), null);
    assert.equal(findModel(MODELS, "claude-2"), null);
    assert.equal(findModel(MODELS, ""), null);
    assert.equal(findModel(undefined, "claude-sonnet-5"), null);
  });

  test("the picker: a new chat's default, the conversation's model, else the first and a notice", () => {
    assert.deepEqual(pickerChoice(MODELS, null, "claude-opus-4-8"), { model: OPUS, unavailable: false });
    assert.deepEqual(pickerChoice(MODELS, null, "gone"), { model: SONNET, unavailable: false });
    assert.deepEqual(pickerChoice(MODELS, "claude-haiku-4-5", "claude-opus-4-8"), { model: HAIKU, unavailable: false });
    assert.deepEqual(pickerChoice(MODELS, "claude-2.1", "claude-opus-4-8"), { model: SONNET, unavailable: true });
    assert.deepEqual(pickerChoice([], "claude-2.1", "x"), { model: null, unavailable: true });
  });

  test("a deprecated model's option says so; effort levels have names", () => {
    assert.equal(optionLabel(OLD), "Claude Sonnet 3.7 (deprecated)");
    assert.equal(optionLabel(SONNET), "claude-sonnet-5");
    assert.deepEqual(OPUS.effort_levels.map(effortLabel), ["Low", "Medium", "High", "Extra high", "Max"]);
    assert.equal(effortLabel("turbo"), "turbo");
    assert.equal(effortLabel("constructor"), "constructor");
  });
});

describe("the settings a model takes", () => {
  test("thinking, effort levels and web search only where the model has them", () => {
    assert.deepEqual(allowedSettings(SONNET), { thinking: true, effortLevels: ["low", "medium", "high", "max"], webSearch: true });
    assert.deepEqual(allowedSettings(HAIKU), { thinking: true, effortLevels: [], webSearch: false });
    assert.deepEqual(allowedSettings(OLD), { thinking: false, effortLevels: [], webSearch: false });
    assert.deepEqual(allowedSettings(null), { thinking: false, effortLevels: [], webSearch: false });
  });

  test("a model keeps what it takes of the settings chosen and resets the rest", () => {
    const all = { thinking: true, effort: "xhigh", web_search: true };
    assert.deepEqual(keptSettings(OPUS, all), { thinking: true, effort: "xhigh", web_search: true });
    assert.deepEqual(keptSettings(SONNET, all), { thinking: true, effort: "", web_search: true });
    assert.deepEqual(keptSettings(HAIKU, all), { thinking: true, effort: "", web_search: false });
    assert.deepEqual(keptSettings(OLD, { thinking: true, effort: "high" }), { thinking: false, effort: "", web_search: false });
    assert.deepEqual(keptSettings(SONNET, {}), { thinking: false, effort: "", web_search: false });
  });

  test("a conversation's model change resets, in the same post, what the new model lacks", () => {
    const saved = { thinking: true, effort: "xhigh" };
    assert.deepEqual(modelChangeFields(OPUS, saved), { model: "claude-opus-4-8" });
    assert.deepEqual(modelChangeFields(SONNET, saved), { model: "claude-sonnet-5", effort: "" });
    assert.deepEqual(modelChangeFields(OLD, saved), { model: OLD.id, thinking: "false", effort: "" });
    assert.deepEqual(modelChangeFields(OLD, { thinking: false, effort: "" }), { model: OLD.id });
  });

  test("web search is turned off with a move to a model without it, and kept otherwise", () => {
    const saved = { thinking: false, effort: "", web_search: true };
    assert.deepEqual(modelChangeFields(OPUS, saved), { model: "claude-opus-4-8" });
    assert.deepEqual(modelChangeFields(HAIKU, saved), { model: "claude-haiku-4-5", web_search: "false" });
    assert.deepEqual(modelChangeFields(HAIKU, { ...saved, web_search: false }), { model: "claude-haiku-4-5" });
  });
});
