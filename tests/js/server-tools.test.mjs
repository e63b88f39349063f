// The server tools' blocks in words (static/chat/server-tools.js): a call as its input
// streams and once its result has come, the results as a list, the errors.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  resultsSummary, serverToolSummary, toolErrorText, toolInputField, toolResult,
} from "../../static/chat/server-tools.js";

const search = (fields) => ({ type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {}, ...fields });

describe("a server tool call", () => {
  test("the query shows as its JSON streams, and once parsed", () => {
    assert.equal(toolInputField(search({ _partial: "" }), "query"), "");
    assert.equal(toolInputField(search({ _partial: '{"query": "weather in Pa' }), "query"), "weather in Pa");
    assert.equal(toolInputField(search({ _partial: '{"query": "say \\"hi' }), "query"), 'say "hi');
    assert.equal(toolInputField(search({ _partial: '{"query": "ends in \\' }), "query"), "ends in ");
    assert.equal(toolInputField(search({ input: { query: "weather in Paris" } }), "query"), "weather in Paris");
  });

  test("searching while it runs, searched once its result has come", () => {
    assert.deepEqual(serverToolSummary(search({ _partial: '{"query": "tides' }), false), {
      icon: "search", text: "Searching the web for “tides”…", url: null, pending: true,
    });
    assert.equal(serverToolSummary(search({ input: { query: "tides" } }), true).text, "Searched the web for “tides”");
    assert.equal(serverToolSummary(search({ _partial: "" }), false).text, "Searching the web…");
  });

  test("a fetch names the address it reads", () => {
    const fetch = { type: "server_tool_use", name: "web_fetch", input: { url: "https://example.com/a" } };
    assert.deepEqual(serverToolSummary(fetch, true), { icon: "globe", text: "Read", url: "https://example.com/a", pending: false });
    assert.equal(serverToolSummary(fetch, false).text, "Reading");
  });

  test("another server tool by its name", () => {
    assert.equal(serverToolSummary({ type: "server_tool_use", name: "code_execution", input: {} }, true).text, "Used code_execution");
  });
});

describe("a tool's result", () => {
  test("search results: title, address and host; addresses that are not http(s) are left out", () => {
    const block = {
      type: "web_search_tool_result",
      tool_use_id: "srvtoolu_1",
      content: [
        { type: "web_search_result", url: "https://www.example.com/a", title: "A", page_age: "2 days ago" },
        { type: "web_search_result", url: "javascript:alert(1)", title: "Evil" },
        { type: "web_search_result", url: "https://example.org/b" },
        null,
      ],
    };
    assert.deepEqual(toolResult(block), {
      items: [
        { url: "https://www.example.com/a", title: "A", host: "example.com", age: "2 days ago" },
        { url: "https://example.org/b", title: "example.org", host: "example.org", age: "" },
      ],
      error: null,
    });
  });

  test("an error object says what went wrong, in words", () => {
    const block = { type: "web_search_tool_result", content: { type: "web_search_tool_result_error", error_code: "max_uses_exceeded" } };
    assert.deepEqual(toolResult(block), { items: [], error: "the reply used every search it may" });
    assert.equal(toolErrorText("brand_new_code"), "brand_new_code");
  });

  test("a fetched page is its one item; a failed fetch its error", () => {
    const page = {
      type: "web_fetch_tool_result",
      content: { type: "web_fetch_result", url: "https://example.net/n", content: { type: "document", title: "News" } },
    };
    assert.deepEqual(toolResult(page).items, [{ url: "https://example.net/n", title: "News", host: "example.net", age: "" }]);
    const failed = { type: "web_fetch_tool_result", content: { type: "web_fetch_tool_result_error", error_code: "url_not_accessible" } };
    assert.equal(toolResult(failed).error, "the page could not be reached");
  });

  test("the fold's summary: how many results, from where", () => {
    const item = (host) => ({ host });
    assert.equal(resultsSummary([]), "No results");
    assert.equal(resultsSummary([item("a.com")]), "1 result from a.com");
    assert.equal(resultsSummary([item("a.com"), item("a.com"), item("b.org")]), "3 results from a.com, b.org");
    assert.equal(resultsSummary([item("a.com"), item("b.org"), item("c.net"), item("d.io")]), "4 results from a.com, b.org and 2 more");
  });
});
