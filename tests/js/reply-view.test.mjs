// How a reply's blocks are drawn in segments (static/chat/reply-view.js): a run of text
// blocks (cited text comes in blocks of its own, mid-sentence) is one segment.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { segmentsOf } from "../../static/chat/reply-view.js";

const text = (t) => ({ type: "text", text: t });

describe("segments", () => {
  test("consecutive text blocks are one segment; any other block is one alone", () => {
    const blocks = [
      { type: "thinking", thinking: "Hm" },
      text("Let me search."),
      { type: "server_tool_use", name: "web_search" },
      { type: "web_search_tool_result", content: [] },
      text("Paris is "), { ...text("rainy"), citations: [] }, text("."),
    ];
    assert.deepEqual(segmentsOf(blocks), [
      { type: "thinking", start: 0, indices: [0] },
      { type: "text", start: 1, indices: [1] },
      { type: "server_tool_use", start: 2, indices: [2] },
      { type: "web_search_tool_result", start: 3, indices: [3] },
      { type: "text", start: 4, indices: [4, 5, 6] },
    ]);
  });

  test("a hole (a block whose start was missed) splits a run", () => {
    const blocks = [text("a")];
    blocks[2] = text("c");
    assert.deepEqual(segmentsOf(blocks).map((s) => s.indices), [[0], [2]]);
  });

  test("no blocks, no segments", () => {
    assert.deepEqual(segmentsOf([]), []);
  });
});
