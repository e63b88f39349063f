// Branches (static/chat/branches.js): what a branch frame keeps, drops and adds, what is
// known of a message's versions, and the "‹ 2 / 3 ›" indicator.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  lastUserMessageId, messageInfo, planBranch, versionIndicator,
} from "../../static/chat/branches.js";

const message = (id, fields = {}) => ({ id, role: id % 2 ? "user" : "assistant", sibling_ids: [id], feedback: null, ...fields });

describe("a branch frame", () => {
  test("an edit of the first message: everything shown goes, the new branch comes", () => {
    const plan = planBranch(["1", "2", "3", "4"], [message(5, { sibling_ids: [1, 5] }), message(6)]);
    assert.deepEqual(plan.remove, ["1", "2", "3", "4"]);
    assert.deepEqual(plan.keep, []);
    assert.deepEqual(plan.add.map((m) => m.id), [5, 6]);
  });

  test("a regeneration keeps the question and what came before, and replaces the reply", () => {
    const plan = planBranch([1, 2, 3, 4], [message(1), message(2), message(3), message(8, { status: "streaming" })]);
    assert.deepEqual(plan.remove, ["4"]);
    assert.deepEqual(plan.keep, ["1", "2", "3"]);
    assert.deepEqual(plan.add.map((m) => m.id), [8]);
  });

  test("a reply already streaming on the new branch is kept, so its frames go on", () => {
    const plan = planBranch(["5", "6"], [message(5), message(6, { status: "streaming" })]);
    assert.deepEqual(plan, { remove: [], keep: ["5", "6"], add: [] });
  });

  test("the same branch again changes nothing", () => {
    const plan = planBranch(["1", "2"], [message(1), message(2)]);
    assert.deepEqual(plan, { remove: [], keep: ["1", "2"], add: [] });
  });

  test("an empty branch removes everything", () => {
    assert.deepEqual(planBranch(["1"], []), { remove: ["1"], keep: [], add: [] });
  });
});

describe("what is known of a message", () => {
  test("a complete message object is taken whole", () => {
    const before = { id: 2, role: "assistant", sibling_ids: [2], feedback: { rating: "up", comment: "" } };
    const info = messageInfo(before, message(2, { sibling_ids: [2, 8], feedback: null }));
    assert.deepEqual(info, { id: 2, role: "assistant", sibling_ids: [2, 8], feedback: null });
  });

  test("a reply's end adds versions and keeps the feedback known", () => {
    const before = { id: 8, role: "assistant", sibling_ids: [2, 8], feedback: { rating: "down", comment: "" } };
    const info = messageInfo(before, { id: 8, sibling_ids: [8] }, { complete: false });
    assert.deepEqual(info.sibling_ids, [2, 8]);
    assert.deepEqual(info.feedback, { rating: "down", comment: "" });
    const more = messageInfo(before, { id: 8, sibling_ids: [2, 8, 9] }, { complete: false });
    assert.deepEqual(more.sibling_ids, [2, 8, 9]);
  });

  test("a message without sibling_ids is its own only version", () => {
    assert.deepEqual(messageInfo(null, { id: "7", role: "user" }).sibling_ids, [7]);
  });
});

describe("the version indicator", () => {
  test("the middle of three versions", () => {
    assert.deepEqual(versionIndicator({ id: 5, sibling_ids: [1, 5, 9] }), {
      position: 2, total: 3, text: "2 / 3", previousId: 1, nextId: 9,
    });
  });

  test("the ends have no version beyond them", () => {
    assert.equal(versionIndicator({ id: 1, sibling_ids: [1, 5] }).previousId, null);
    assert.equal(versionIndicator({ id: 5, sibling_ids: [1, 5] }).nextId, null);
    assert.equal(versionIndicator({ id: 5, sibling_ids: [1, 5] }).text, "2 / 2");
  });

  test("a single version shows no indicator", () => {
    assert.equal(versionIndicator({ id: 5, sibling_ids: [5] }), null);
    assert.equal(versionIndicator({ id: 5, sibling_ids: [] }), null);
  });

  test("a message missing from its own versions shows none rather than a wrong place", () => {
    assert.equal(versionIndicator({ id: 4, sibling_ids: [1, 5] }), null);
  });
});

describe("the message the ↑ key edits", () => {
  test("the last stored user message", () => {
    const shown = [{ id: "1", role: "user" }, { id: "2", role: "assistant" }, { id: "3", role: "user" }, { id: "4", role: "assistant" }];
    assert.equal(lastUserMessageId(shown), "3");
  });

  test("a message not stored yet (no id) is passed over; none at all gives null", () => {
    assert.equal(lastUserMessageId([{ id: "1", role: "user" }, { id: "", role: "user" }]), "1");
    assert.equal(lastUserMessageId([{ id: "2", role: "assistant" }]), null);
  });
});
