// A reply's citations (static/chat/citations.js): sources, their numbers, the words for them,
// and the Markdown of a run of text blocks with a mark after each cited block.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  blockReferences, citationSource, hostOf, MARK_PATTERN, numberCitations, pagesText, runMarkdown, sourceLine,
} from "../../static/chat/citations.js";

const web = (n, cited = `Quote ${n}.`) => ({
  type: "web_search_result_location", url: `https://www.example.com/page-${n}`, title: `Page ${n}`,
  encrypted_index: "x", cited_text: cited,
});
const pdfPages = (start, end, cited = "A passage.") => ({
  type: "page_location", document_index: 0, document_title: "Annual report.pdf",
  start_page_number: start, end_page_number: end, cited_text: cited,
});
const chars = (index, title = null) => ({
  type: "char_location", document_index: index, document_title: title, start_char_index: 0, end_char_index: 9,
  cited_text: "Some text",
});
const text = (t, citations) => (citations ? { type: "text", text: t, citations } : { type: "text", text: t });

describe("sources", () => {
  test("a web result is its address; a document is its index in the request", () => {
    assert.deepEqual(citationSource(web(1)), {
      key: "web:https://www.example.com/page-1", kind: "web", url: "https://www.example.com/page-1", title: "Page 1",
    });
    assert.deepEqual(citationSource(pdfPages(2, 3)), { key: "doc:0", kind: "document", url: null, title: "Annual report.pdf" });
    assert.equal(citationSource(chars(2)).title, "Document 3", "a document without a title");
    assert.equal(citationSource(chars(2, "notes.txt")).key, "doc:2");
    assert.equal(citationSource({ type: "content_block_location", document_index: 1, document_title: "T" }).key, "doc:1");
  });

  test("an address that is not http(s), or a citation of an unknown kind, names no source", () => {
    assert.equal(citationSource({ ...web(1), url: "javascript:alert(1)" }), null);
    assert.equal(citationSource({ ...web(1), url: "/relative" }), null);
    assert.equal(citationSource({ type: "search_result_location", source: "x" }), null);
    assert.equal(citationSource(null), null);
  });

  test("host names lose their www.", () => {
    assert.equal(hostOf("https://www.example.com/a?b"), "example.com");
    assert.equal(hostOf("https://docs.example.org/"), "docs.example.org");
    assert.equal(hostOf("data:text/html,x"), "");
  });

  test("pages: one, or a range (the API's end is exclusive)", () => {
    assert.equal(pagesText(pdfPages(3, 4)), "p.\u00a03");
    assert.equal(pagesText(pdfPages(3, 6)), "pp.\u00a03–5");
    assert.equal(pagesText(chars(0)), "");
    assert.equal(pagesText({ type: "page_location", start_page_number: 0 }), "");
  });
});

describe("numbers", () => {
  const blocks = [
    text("Intro, "),
    text("first claim", [web(1), web(2)]),
    { type: "web_search_tool_result", content: [] },
    text("second claim", [web(2, "Another quote from 2.")]),
    text(" and a document", [pdfPages(2, 3), pdfPages(5, 6)]),
    text(" and the first again", [web(1)]),
  ];
  const numbering = numberCitations(blocks);

  test("sources are numbered in the order first cited; the same source keeps its number", () => {
    assert.deepEqual(numbering.sources.map((s) => [s.number, s.title]), [
      [1, "Page 1"], [2, "Page 2"], [3, "Annual report.pdf"],
    ]);
    assert.equal(numbering.numberOf(web(2, "anything")), 2);
    assert.equal(numbering.numberOf(pdfPages(9, 10)), 3);
    assert.equal(numbering.numberOf(web(7)), null);
    assert.equal(numbering.sources[1].passages.length, 2, "every passage of a source is kept");
  });

  test("a block's references: one per source, in number order, with each passage cited", () => {
    const refs = blockReferences(blocks[4], numbering);
    assert.equal(refs.length, 1);
    assert.equal(refs[0].number, 3);
    assert.deepEqual(refs[0].passages, [{ text: "A passage.", where: "p.\u00a02" }, { text: "A passage.", where: "p.\u00a05" }]);
    assert.deepEqual(blockReferences(text("x", [web(2), web(1)]), numbering).map((r) => r.number), [1, 2]);
    assert.deepEqual(blockReferences(text("no citations"), numbering), []);
  });

  test("a source in words: the page's title and host, the document's title and pages", () => {
    assert.equal(sourceLine(numbering.sources[0]), "Page 1 (example.com)");
    assert.equal(sourceLine(numbering.sources[2]), "Annual report.pdf, p.\u00a02, p.\u00a05");
  });

  test("nothing cited: no sources", () => {
    assert.deepEqual(numberCitations([text("plain")]).sources, []);
    assert.deepEqual(numberCitations(undefined).sources, []);
  });
});

describe("a run of text blocks", () => {
  test("the blocks run on, with a mark after each cited one, before its trailing space", () => {
    const blocks = [text("Paris is "), text("rainy in spring\n\n", [web(1)]), text("and cold.", [web(2)])];
    const { markdown, references } = runMarkdown(blocks, numberCitations(blocks));
    assert.equal(markdown, "Paris is rainy in spring\uE0000\uE001\n\nand cold.\uE0001\uE001");
    assert.deepEqual(references.map((refs) => refs.map((r) => r.number)), [[1], [2]]);
    assert.deepEqual([...markdown.matchAll(MARK_PATTERN)].map((m) => m[1]), ["0", "1"]);
  });

  test("the model's text cannot forge a mark", () => {
    const blocks = [text("Fake \uE0000\uE001 mark")];
    const { markdown, references } = runMarkdown(blocks, numberCitations(blocks));
    assert.equal(markdown, "Fake 0 mark");
    assert.deepEqual(references, []);
  });
});
