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

describe("web search: server tool blocks and citations, as the API streams them", () => {
  const QUERY = '{"query": "tides in Brest"}';
  const results = [
    { type: "web_search_result", url: "https://example.com/tides", title: "Tides", page_age: "2 days ago" },
    { type: "web_search_result", url: "https://example.org/brest", title: "Brest" },
  ];
  const cite = { type: "web_search_result_location", url: "https://example.com/tides", title: "Tides", cited_text: "High tide at 6." };
  const start = (seq, index, block) => frame("content_block_start", seq, { index, content_block: block });
  const delta = (seq, index, d) => frame("content_block_delta", seq, { index, delta: d });

  test("each frame marks only its block dirty; the query is assembled and parsed at the block's stop", () => {
    const reply = replyWith(
      frame("message_start", 1, { message: { usage: { input_tokens: 40, output_tokens: 1 } } }),
      textStart(2), textDelta(3, "Let me look."), frame("content_block_stop", 4, { index: 0 }),
    );
    assert.deepEqual(applyFrame(reply, start(5, 1, { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} })),
      { rebuild: false, dirty: [1] });
    assert.equal(reply.blocks[1]._partial, "");
    for (const [seq, part] of [[6, ""], [7, '{"query": '], [8, '"tides in '], [9, 'Brest"}']]) {
      assert.deepEqual(applyFrame(reply, delta(seq, 1, { type: "input_json_delta", partial_json: part })), { rebuild: false, dirty: [1] });
    }
    assert.equal(reply.blocks[1]._partial, QUERY);
    applyFrame(reply, frame("content_block_stop", 10, { index: 1 }));
    assert.deepEqual(reply.blocks[1], { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "tides in Brest" } });

    assert.deepEqual(applyFrame(reply, start(11, 2, { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: results })),
      { rebuild: false, dirty: [2] });
    applyFrame(reply, frame("content_block_stop", 12, { index: 2 }));
    assert.deepEqual(reply.blocks[2], { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: results },
      "a result block has no input to parse");
  });

  test("a cited text block: citations_delta before its text, on a block started with or without citations", () => {
    for (const started of [{ type: "text", text: "" }, { type: "text", text: "", citations: null }, { type: "text", text: "", citations: [] }]) {
      const reply = replyWith(start(1, 0, started));
      assert.deepEqual(applyFrame(reply, delta(2, 0, { type: "citations_delta", citation: cite })), { rebuild: false, dirty: [0] });
      applyFrame(reply, delta(3, 0, { type: "text_delta", text: "High tide is at six" }));
      assert.deepEqual(reply.blocks[0].citations, [cite]);
      assert.equal(reply.blocks[0].text, "High tide is at six");
    }
  });

  test("a citations_delta whose block start was missed makes up the text block and rebuilds", () => {
    const reply = createReply(ID);
    assert.deepEqual(applyFrame(reply, delta(5, 3, { type: "citations_delta", citation: cite })), { rebuild: true, dirty: [3] });
    assert.deepEqual(reply.blocks[3], { type: "text", text: "", citations: [cite] });
  });

  test("an error result and a fetch are kept as sent", () => {
    const error = { type: "web_search_tool_result_error", error_code: "too_many_requests" };
    const fetched = { type: "web_fetch_result", url: "https://example.net/a", content: { type: "document", title: "A" } };
    const reply = replyWith(
      start(1, 0, { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: error }),
      start(2, 1, { type: "server_tool_use", id: "srvtoolu_2", name: "web_fetch", input: {} }),
      delta(3, 1, { type: "input_json_delta", partial_json: '{"url": "https://example.net/a"}' }),
      frame("content_block_stop", 4, { index: 1 }),
      start(5, 2, { type: "web_fetch_tool_result", tool_use_id: "srvtoolu_2", content: fetched }),
    );
    assert.deepEqual(reply.blocks[0].content, error);
    assert.deepEqual(reply.blocks[1].input, { url: "https://example.net/a" });
    assert.deepEqual(reply.blocks[2].content, fetched);
  });

  test("the searches counted in usage: a later report replaces the earlier one", () => {
    const reply = replyWith(
      frame("message_start", 1, { message: { usage: { input_tokens: 40, output_tokens: 1 } } }),
      frame("message_delta", 2, { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 90, server_tool_use: { web_search_requests: 1 } } }),
      frame("message_delta", 3, { delta: {}, usage: { server_tool_use: { web_search_requests: 2, web_fetch_requests: 0 } } }),
    );
    assert.deepEqual(reply.usage, {
      input_tokens: 40, output_tokens: 90, server_tool_use: { web_search_requests: 2, web_fetch_requests: 0 },
    });
  });

  test("the saved message replaces the streamed blocks, citations and server tool blocks included", () => {
    const saved = [
      { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "tides in Brest" } },
      { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: results },
      { type: "text", text: "High tide is at six", citations: [cite] },
    ];
    const reply = replyWith(start(1, 0, { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} }),
      delta(2, 0, { type: "input_json_delta", partial_json: '{"query": "ti' }));
    const change = applyFrame(reply, frame("message_stop", 3, { message: savedMessage({ content: saved }) }));
    assert.deepEqual(change, { rebuild: true, dirty: [] });
    assert.deepEqual(reply.blocks, saved);
    assert.equal(reply.final, true);
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
