// What the page writes as text (static/chat/format.js, the month line of sidebar.js, the
// addresses of urls.js, the client ids of composer.js): importable without a DOM.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { randomUuid } from "../../static/chat/composer.js";
import {
  countCharacters, escapeHtml, formatCost, formatMoney, formatServerTools, formatUsage, safeHttpUrl,
  stopReasonNote, textOfContent, toolInputText,
} from "../../static/chat/format.js";
import { isOverBudget, monthText, monthWithReply } from "../../static/chat/sidebar.js";
import { socketUrl } from "../../static/chat/socket.js";
import { pageUrls } from "../../static/chat/urls.js";

// A saved reply's state (protocol.js createReply) that stopped for `stopReason`.
const ended = (stopReason, fields = {}) => ({
  stopReason, stopSequence: null, usage: null, status: "complete", final: true, ...fields,
});

describe("usage and money", () => {
  test("usage: tokens in and out with thousands separators; cache counts only when used", () => {
    assert.equal(formatUsage({ input_tokens: 12345, output_tokens: 6 }), "12,345 in · 6 out tokens");
    assert.equal(
      formatUsage({ input_tokens: 1, output_tokens: 2, cache_read_input_tokens: 1200, cache_creation_input_tokens: 40 }),
      "1 in · 2 out tokens · 1,200 cached · 40 cache write",
    );
    assert.equal(
      formatUsage({ input_tokens: 5, output_tokens: 2, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }),
      "5 in · 2 out tokens",
    );
    assert.equal(formatUsage({}), "0 in · 0 out tokens");
  });

  test("what the server tools did: web searches and pages read, only when some", () => {
    assert.equal(formatServerTools({ server_tool_use: { web_search_requests: 2, web_fetch_requests: 0 } }), " · 2 web searches");
    assert.equal(formatServerTools({ server_tool_use: { web_search_requests: 1, web_fetch_requests: 3 } }),
      " · 1 web search · 3 pages read");
    assert.equal(formatServerTools({ server_tool_use: { web_search_requests: 0 } }), "");
    assert.equal(formatServerTools({ input_tokens: 3 }), "");
    assert.equal(formatServerTools(null), "");
  });

  test("money: four decimals, six below a cent so that a small cost never shows as $0", () => {
    assert.equal(formatMoney("1.5"), "$1.5000");
    assert.equal(formatMoney("0.01"), "$0.0100");
    assert.equal(formatMoney("0.000123000000"), "$0.000123");
    assert.equal(formatMoney(0), "$0.0000");
    assert.equal(formatMoney("not a number"), "");
    assert.equal(formatMoney(undefined), "");
  });

  test("a reply's cost: unknown without a price (never $0), nothing while it streams", () => {
    assert.equal(formatCost("0.042", true), " · $0.0420");
    assert.equal(formatCost(null, false), " · no price");
    assert.equal(formatCost("0", false), " · no price");
    assert.equal(formatCost(null, null), "");
  });

  test("the month's line adds an ended reply's four token counts and its exact cost", () => {
    const month = { tokens: 1000, cost: "0.500000", limit: "1.00" };
    const usage = { input_tokens: 10, output_tokens: 20, cache_creation_input_tokens: 30, cache_read_input_tokens: 40 };
    const after = monthWithReply(month, { usage, cost: "0.123456" });
    assert.equal(after.tokens, 1100);
    assert.equal(after.cost, "0.623456");
    assert.equal(month.tokens, 1000, "the month it was given is left as it was");
    assert.equal(monthWithReply(month, { usage, cost: null }).cost, "0.500000", "an unpriced reply adds no cost");
    assert.equal(monthText(after), "This month: 1,100 tokens · $0.6235 of $1.0000");
    assert.equal(monthText({ tokens: 0, cost: "0", limit: null }), "This month: 0 tokens · $0.0000");
  });

  test("over budget once the month's cost reaches its limit", () => {
    assert.equal(isOverBudget({ cost: "0.99", limit: "1" }), false);
    assert.equal(isOverBudget({ cost: "1.00", limit: "1" }), true);
    assert.equal(isOverBudget({ cost: "100", limit: null }), false);
  });
});

describe("links", () => {
  const base = "https://chat.example/c/1/";

  test("only http(s) URLs are kept, made absolute", () => {
    assert.equal(safeHttpUrl("https://example.com/a?b=1", base), "https://example.com/a?b=1");
    assert.equal(safeHttpUrl("http://example.com", base), "http://example.com/");
    assert.equal(safeHttpUrl("/docs", base), "https://chat.example/docs");
    assert.equal(safeHttpUrl("javascript:alert(1)", base), null);
    assert.equal(safeHttpUrl("data:text/html,<b>x</b>", base), null);
    assert.equal(safeHttpUrl("http://[bad", base), null);
  });

  test("the page's URL templates get the conversation's id", () => {
    const urls = pageUrls({
      index: "/", socket: "/ws/chat/", conversation: "/c/{id}/", messages: "/c/{id}/messages/",
      settings: "/c/{id}/settings/", delete: "/c/{id}/delete/", export: "/c/{id}/export/",
      feedback: "/messages/{id}/feedback/", search: "/search/", conversations: "/conversations/",
    });
    assert.equal(urls.export(3), "/c/3/export/");
    assert.equal(urls.feedback(9), "/messages/9/feedback/");
    assert.equal(urls.search, "/search/");
    assert.equal(urls.index, "/");
    assert.equal(urls.conversation(12), "/c/12/");
    assert.equal(urls.messages(12), "/c/12/messages/");
    assert.equal(urls.settings("12"), "/c/12/settings/");
    assert.equal(urls.socket, "/ws/chat/");
    assert.equal(urls.conversation("a/b"), "/c/a%2Fb/", "an id never adds a path segment");
  });

  test("a URL the page does not carry is null, never a wrong address", () => {
    assert.equal(pageUrls({ conversation: "/c/{id}/" }).export(3), null);
  });

  test("the socket's URL follows the page's scheme and host", () => {
    assert.equal(socketUrl({ protocol: "https:", host: "chat.example" }, "/ws/chat/"), "wss://chat.example/ws/chat/");
    assert.equal(socketUrl({ protocol: "http:", host: "127.0.0.1:8000" }, "/ws/chat/"), "ws://127.0.0.1:8000/ws/chat/");
  });
});

describe("text", () => {
  test("a message's text: its text blocks, separated by a blank line", () => {
    assert.equal(textOfContent("plain"), "plain");
    assert.equal(textOfContent([
      { type: "text", text: "One" }, { type: "tool_use", name: "t" }, { type: "text", text: "Two" },
    ]), "One\n\nTwo");
    assert.equal(textOfContent([
      { type: "text", text: "Paris is " }, { type: "text", text: "rainy", citations: [{}] }, { type: "text", text: "." },
    ]), "Paris is rainy.", "cited text runs on in its sentence");
    assert.equal(textOfContent(null), "");
  });

  test("a tool call's input: the raw JSON while it streams, then the parsed input", () => {
    assert.equal(toolInputText({ _partial: '{"city": "Pa' }), '{"city": "Pa');
    assert.equal(toolInputText({ input: { city: "Paris" } }), '{"city":"Paris"}');
    assert.equal(toolInputText({}), "{}");
  });

  test("characters are counted as code points, as the server counts them", () => {
    assert.equal(countCharacters("héllo"), 5);
    assert.equal(countCharacters("👍🏽!"), 3);
    assert.equal("👍🏽!".length, 5);
  });

  test("only unusual stop reasons get a note", () => {
    assert.equal(stopReasonNote(ended("end_turn")), null);
    assert.equal(stopReasonNote(ended(null)), null);
    assert.equal(stopReasonNote(ended("max_tokens", { status: "stopped" })), null, "Stopped says it already");
    assert.equal(stopReasonNote(ended("max_tokens", { status: "error" })), null);
  });

  test("max_tokens: where the reply was cut off, from its output tokens", () => {
    assert.deepEqual(stopReasonNote(ended("max_tokens", { usage: { output_tokens: 4096 } })),
      { kind: "note", text: "Cut off at 4,096 tokens" });
    assert.equal(stopReasonNote(ended("max_tokens")).text, "Cut off at the reply's token limit");
  });

  test("stop_sequence: the sequence when it is known", () => {
    assert.equal(stopReasonNote(ended("stop_sequence", { stopSequence: "END" })).text,
      "Stopped at the stop sequence “END”");
    assert.equal(stopReasonNote(ended("stop_sequence")).text, "Stopped at a stop sequence");
  });

  test("refusal: its own kind (not an error), with the tokens billed", () => {
    assert.deepEqual(stopReasonNote(ended("refusal", { usage: { input_tokens: 9, output_tokens: 1200 } })), {
      kind: "refusal",
      text: "Claude declined to answer this request. The 1,200 tokens it wrote are billed.",
    });
    assert.deepEqual(stopReasonNote(ended("refusal", { usage: { output_tokens: 0 } })),
      { kind: "refusal", text: "Claude declined to answer this request." });
  });

  test("pause_turn: going on while the reply streams; if it ended there, said so", () => {
    assert.deepEqual(stopReasonNote({ stopReason: "pause_turn", status: "streaming", final: false }),
      { kind: "paused", text: "Paused; continuing…" });
    assert.equal(stopReasonNote(ended("pause_turn")).text, "Paused before the end: send a message to go on");
    assert.equal(stopReasonNote({ stopReason: "max_tokens", status: "streaming", final: false }), null,
      "a reason is shown once the reply is saved");
  });

  test("the context window, and a reason this page does not know, shown as it came", () => {
    assert.equal(stopReasonNote(ended("model_context_window_exceeded")).text,
      "The conversation filled the model's context window");
    assert.deepEqual(stopReasonNote(ended("tea_break")), { kind: "note", text: "Stopped: tea_break" });
    assert.deepEqual(stopReasonNote(ended("toString")), { kind: "note", text: "Stopped: toString" });
  });

  test("HTML special characters are escaped", () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });
});

describe("client ids", () => {
  const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  test("a random version 4 UUID, also where crypto.randomUUID is missing (plain http)", () => {
    assert.match(randomUuid(), UUID4);
    const noRandomUuid = { getRandomValues: (bytes) => globalThis.crypto.getRandomValues(bytes) };
    const ids = new Set(Array.from({ length: 50 }, () => randomUuid(noRandomUuid)));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.match(id, UUID4);
    const refusing = { randomUUID() { throw new Error("insecure"); }, getRandomValues: noRandomUuid.getRandomValues };
    assert.match(randomUuid(refusing), UUID4);
  });
});
