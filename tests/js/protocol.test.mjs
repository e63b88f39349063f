// The reply reducer (static/chat/protocol.js) against the rules of docs/protocol.md.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { applyFrame, applyMessage, createReply, errorText } from "../../static/chat/protocol.js";

const ID = 7;
const frame = (type, seq, fields = {}) => ({ type, conversation_id: 1, message_id: ID, seq, ...fields });
const textStart = (seq, index = 0) => frame("content_block_start", seq, { index, content_block: { type: "text", text: "" } });
const textDelta = (seq, text, index = 0) => frame("content_block_delta", seq, { index, delta: { type: "text_delta", text } });
const savedMessage = (fields = {}) => ({
  id: ID,
  role: "assistant",
  status: "complete",
  content: [{ type: "text", text: "Saved answer" }],
  stop_reason: "end_turn",
  error: null,
  cost: "0.000123000000",
  priced: true,
  usage: { input_tokens: 11, output_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  ...fields,
});

function replyWith(...frames) {
  const reply = createReply(ID);
  for (const f of frames) applyFrame(reply, f);
  return reply;
}

describe("seq order", () => {
  test("a frame whose seq is not greater than the last applied is ignored", () => {
    const reply = replyWith(frame("message_start", 1, { message: {} }), textStart(2), textDelta(3, "Hel"), textDelta(4, "lo"));
    assert.equal(applyFrame(reply, textDelta(4, "lo")), null, "a duplicate");
    assert.equal(applyFrame(reply, textDelta(3, "Hel")), null, "an older frame");
    assert.equal(reply.blocks[0].text, "Hello");
    assert.equal(reply.lastSeq, 4);
  });

  test("a joined delta carries the seq of its last part: the parts it replaces are ignored", () => {
    const reply = replyWith(textStart(1), textDelta(2, "a"));
    assert.ok(applyFrame(reply, textDelta(5, "bcd")));
    for (const [seq, text] of [[3, "b"], [4, "c"], [5, "d"]]) {
      assert.equal(applyFrame(reply, textDelta(seq, text)), null);
    }
    assert.ok(applyFrame(reply, textDelta(6, "e")));
    assert.equal(reply.blocks[0].text, "abcde");
  });

  test("seq is counted per reply, from the first frame seen", () => {
    const reply = createReply(ID);
    assert.ok(applyFrame(reply, textDelta(40, "mid-reply")), "a tab may join at any seq");
    assert.equal(reply.lastSeq, 40);
    assert.ok(applyFrame(createReply(8), textDelta(1, "x")), "another reply starts afresh");
  });

  test("a frame of a type the reducer does not know changes nothing, not even the seq", () => {
    const reply = replyWith(textStart(1));
    assert.equal(applyFrame(reply, frame("something_new", 9)), null);
    assert.equal(reply.lastSeq, 1);
  });
});

describe("resync", () => {
  test("replaces everything shown and sets the seq the next frames follow", () => {
    const reply = replyWith(textStart(1), textDelta(2, "garbled"));
    const change = applyFrame(reply, frame("resync", 9, {
      message: savedMessage({ status: "streaming", content: [{ type: "text", text: "So far" }], cost: null }),
    }));
    assert.deepEqual(change, { rebuild: true, dirty: [] });
    assert.deepEqual(reply.blocks, [{ type: "text", text: "So far" }]);
    assert.equal(reply.final, false);
    assert.equal(reply.lastSeq, 9);
    assert.equal(applyFrame(reply, textDelta(9, " again")), null, "included in the resync");
    applyFrame(reply, textDelta(10, ", and more"));
    assert.equal(reply.blocks[0].text, "So far, and more");
  });

  test("always applies, even with a seq below the last applied (a new socket starts over)", () => {
    const reply = replyWith(textStart(1), textDelta(12, "abc"));
    assert.ok(applyFrame(reply, frame("resync", 8, {
      message: savedMessage({ status: "streaming", content: [{ type: "text", text: "ab" }] }),
    })));
    assert.equal(reply.blocks[0].text, "ab");
    applyFrame(reply, textDelta(9, "c"));
    assert.equal(reply.blocks[0].text, "abc", "frames after the resync's seq apply again");
  });

  test("a resync whose message no longer streams ends the reply, as message_stop does", () => {
    const reply = replyWith(textStart(1), textDelta(2, "Sav"));
    applyFrame(reply, frame("resync", null, { message: savedMessage() }));
    assert.equal(reply.final, true);
    assert.equal(reply.status, "complete");
    assert.equal(reply.cost, "0.000123000000");
    assert.equal(applyFrame(reply, textDelta(3, "ed")), null, "nothing changes an ended reply");
    assert.equal(applyFrame(reply, frame("message_stop", 4, { message: savedMessage({ status: "error" }) })), null);
    assert.equal(reply.blocks[0].text, "Saved answer");
  });
});

describe("content", () => {
  test("text deltas are appended to their block", () => {
    const reply = createReply(ID);
    assert.deepEqual(applyFrame(reply, textStart(1)), { rebuild: false, dirty: [0] });
    assert.deepEqual(applyFrame(reply, textDelta(2, "Hello, ")), { rebuild: false, dirty: [0] });
    applyFrame(reply, textDelta(3, "world"));
    assert.deepEqual(reply.blocks, [{ type: "text", text: "Hello, world" }]);
  });

  test("a delta whose block start was missed makes the block up and asks for a rebuild", () => {
    const reply = createReply(ID);
    assert.deepEqual(applyFrame(reply, textDelta(3, "late", 1)), { rebuild: true, dirty: [1] });
    assert.deepEqual(reply.blocks[1], { type: "text", text: "late" });
  });

  test("thinking deltas build the thinking; the signature is kept and changes nothing shown", () => {
    const reply = replyWith(
      frame("content_block_start", 1, { index: 0, content_block: { type: "thinking", thinking: "" } }),
      frame("content_block_delta", 2, { index: 0, delta: { type: "thinking_delta", thinking: "Let me " } }),
      frame("content_block_delta", 3, { index: 0, delta: { type: "thinking_delta", thinking: "think." } }),
    );
    const change = applyFrame(reply, frame("content_block_delta", 4, { index: 0, delta: { type: "signature_delta", signature: "sig==" } }));
    assert.deepEqual(change, { rebuild: false, dirty: [] });
    assert.deepEqual(reply.blocks[0], { type: "thinking", thinking: "Let me think.", signature: "sig==" });
  });

  test("a tool call's input streams as raw JSON and is parsed when its block stops", () => {
    const json = (seq, partial_json) => frame("content_block_delta", seq, { index: 1, delta: { type: "input_json_delta", partial_json } });
    const reply = replyWith(
      textStart(1),
      frame("content_block_start", 2, { index: 1, content_block: { type: "tool_use", id: "toolu_1", name: "get_weather", input: {} } }),
      json(3, '{"city": "Par'),
      json(4, 'is", "days": 2}'),
    );
    assert.equal(reply.blocks[1]._partial, '{"city": "Paris", "days": 2}');
    assert.deepEqual(applyFrame(reply, frame("content_block_stop", 5, { index: 1 })), { rebuild: false, dirty: [1] });
    assert.deepEqual(reply.blocks[1], { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris", days: 2 } });
  });

  test("a tool call with no input gets {}; one with broken JSON keeps its raw text", () => {
    const start = (seq, index) => frame("content_block_start", seq, { index, content_block: { type: "tool_use", name: "t", input: {} } });
    const reply = replyWith(
      start(1, 0), frame("content_block_stop", 2, { index: 0 }),
      start(3, 1), frame("content_block_delta", 4, { index: 1, delta: { type: "input_json_delta", partial_json: '{"a": ' } }),
      frame("content_block_stop", 5, { index: 1 }),
    );
    assert.deepEqual(reply.blocks[0].input, {});
    assert.equal("_partial" in reply.blocks[0], false);
    assert.equal(reply.blocks[1]._partial, '{"a": ');
  });

  test("server tool blocks: the call's input is assembled, the result block kept as sent", () => {
    const results = [{ type: "web_search_result", url: "https://example.com/", title: "Example" }];
    const reply = replyWith(
      frame("content_block_start", 1, { index: 0, content_block: { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} } }),
      frame("content_block_delta", 2, { index: 0, delta: { type: "input_json_delta", partial_json: '{"query": "weather"}' } }),
      frame("content_block_stop", 3, { index: 0 }),
      frame("content_block_start", 4, { index: 1, content_block: { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: results } }),
    );
    assert.deepEqual(reply.blocks[0].input, { query: "weather" });
    assert.deepEqual(reply.blocks[1].content, results);
  });

  test("citations deltas are appended to the text block's citations", () => {
    const citation = (n) => ({ type: "web_search_result_location", url: `https://example.com/${n}`, title: `Source ${n}` });
    const cite = (seq, n) => frame("content_block_delta", seq, { index: 0, delta: { type: "citations_delta", citation: citation(n) } });
    const reply = replyWith(textStart(1), cite(2, 1), textDelta(3, "It rains."), cite(4, 2));
    assert.deepEqual(reply.blocks[0], { type: "text", text: "It rains.", citations: [citation(1), citation(2)] });
  });

  test("a delta of a kind this page does not know changes nothing shown", () => {
    const reply = replyWith(textStart(1), textDelta(2, "Hi"));
    const change = applyFrame(reply, frame("content_block_delta", 3, { index: 1, delta: { type: "future_delta", x: 1 } }));
    assert.deepEqual(change, { rebuild: false, dirty: [] });
    assert.deepEqual(reply.blocks, [{ type: "text", text: "Hi" }]);
  });

  test("message_start with content replaces the blocks", () => {
    const reply = replyWith(textStart(1), textDelta(2, "old"));
    const change = applyFrame(reply, frame("message_start", 3, { message: { content: [{ type: "text", text: "new" }] } }));
    assert.equal(change.rebuild, true);
    assert.deepEqual(reply.blocks, [{ type: "text", text: "new" }]);
  });
});

describe("end of a reply", () => {
  test("message_delta sets the stop reason and cumulative usage (replaced, never added)", () => {
    const reply = replyWith(
      frame("message_start", 1, { message: { usage: { input_tokens: 25, output_tokens: 1 } } }),
      frame("message_delta", 2, { delta: { stop_reason: null }, usage: { output_tokens: 5 } }),
      frame("message_delta", 3, { delta: { stop_reason: "max_tokens" }, usage: { output_tokens: 12, input_tokens: null } }),
    );
    assert.equal(reply.stopReason, "max_tokens");
    assert.deepEqual(reply.usage, { input_tokens: 25, output_tokens: 12 });
    assert.equal(reply.final, false, "only message_stop ends it");
  });

  test("the stop sequence streamed is kept when the saved message does not name it", () => {
    const reply = replyWith(
      textStart(1),
      frame("message_delta", 2, { delta: { stop_reason: "stop_sequence", stop_sequence: "END" } }),
    );
    assert.equal(reply.stopSequence, "END");
    applyFrame(reply, frame("message_stop", 3, { message: savedMessage({ stop_reason: "stop_sequence" }) }));
    assert.equal(reply.stopSequence, "END");

    const named = replyWith(frame("message_stop", 1, {
      message: savedMessage({ stop_reason: "stop_sequence", stop_sequence: "STOP" }),
    }));
    assert.equal(named.stopSequence, "STOP");
    const other = replyWith(
      frame("message_delta", 1, { delta: { stop_reason: "stop_sequence", stop_sequence: "END" } }),
      frame("message_stop", 2, { message: savedMessage({ stop_reason: "max_tokens" }) }),
    );
    assert.equal(other.stopSequence, null);
  });

  test("message_stop replaces the reply with the saved message and ends it", () => {
    const reply = replyWith(textStart(1), textDelta(2, "Saved ans"));
    const change = applyFrame(reply, frame("message_stop", 3, { message: savedMessage() }));
    assert.equal(change.rebuild, true);
    assert.equal(reply.final, true);
    assert.equal(reply.status, "complete");
    assert.equal(reply.stopReason, "end_turn");
    assert.deepEqual(reply.usage, savedMessage().usage);
    assert.equal(reply.cost, "0.000123000000");
    assert.equal(reply.priced, true);
    assert.equal(applyFrame(reply, textDelta(4, "!")), null);
    assert.equal(reply.blocks[0].text, "Saved answer");
  });

  test("a stopped reply keeps its status; an unpriced one says so", () => {
    const reply = replyWith(textStart(1));
    applyFrame(reply, frame("message_stop", 2, { message: savedMessage({ status: "stopped", cost: null, priced: false }) }));
    assert.equal(reply.status, "stopped");
    assert.equal(reply.final, true);
    assert.equal(reply.cost, null);
    assert.equal(reply.priced, false);
  });

  test("an error frame marks the reply failed; its first error is the one kept", () => {
    const reply = replyWith(textStart(1), textDelta(2, "Half"));
    applyFrame(reply, { type: "error", code: "upstream_overloaded", message: "The API is overloaded", message_id: ID });
    applyFrame(reply, { type: "error", code: "upstream_stream_error", message: "later", message_id: ID });
    assert.equal(reply.status, "error");
    assert.deepEqual(reply.error, { code: "upstream_overloaded", message: "The API is overloaded" });
    assert.equal(reply.final, false, "the message_stop that follows carries the saved message");
    assert.equal(reply.blocks[0].text, "Half");
    applyFrame(reply, frame("message_stop", 3, { message: savedMessage({ status: "error", error: { code: "upstream_overloaded", message: "saved" } }) }));
    assert.equal(reply.final, true);
    assert.equal(applyFrame(reply, { type: "error", code: "x", message_id: ID }), null, "an ended reply ignores errors");
  });

  test("an error's text falls back to its code, then to a generic sentence", () => {
    assert.equal(errorText({ code: "busy", message: "A reply is streaming" }), "A reply is streaming");
    assert.equal(errorText({ code: "busy" }), "busy");
    assert.equal(errorText({}), "Something went wrong.");
  });
});

test("applyMessage copies the blocks, so the reply's edits never touch the message", () => {
  const message = savedMessage({ status: "streaming" });
  const reply = createReply(ID);
  applyMessage(reply, message);
  reply.blocks[0].text += " and more";
  assert.equal(message.content[0].text, "Saved answer");
  assert.equal(reply.final, false);
  applyMessage(reply, savedMessage({ content: "plain text" }));
  assert.deepEqual(reply.blocks, [{ type: "text", text: "plain text" }]);
});
