/*
 * A reply's citations (docs/protocol.md, "Message object"): which source each citation
 * names, the number a source gets within a reply (the same source, the same number, in the
 * order they are first cited), and the words that describe a source and a cited passage.
 * Pure (no DOM), so that node's test runner checks it (tests/js/citations.test.mjs);
 * citation-view.js draws the numbers, their popovers and the Sources list.
 */

import { safeHttpUrl } from "./format.js";

const DOCUMENT_LOCATIONS = new Set(["char_location", "page_location", "content_block_location"]);

// The host of a web address, without "www." ("" for anything not http(s)).
export function hostOf(url) {
  const safe = safeHttpUrl(url, "http://invalid/");
  if (!safe) return "";
  const host = new URL(safe).hostname;
  return host === "invalid" ? "" : host.replace(/^www\./, "");
}

/* The source a citation names: {key, kind: "web" or "document", title, url}; null for a
 * citation this page does not know. Web results are one source per address, documents one
 * per document of the request. */
export function citationSource(citation) {
  if (!citation || typeof citation !== "object") return null;
  if (citation.type === "web_search_result_location") {
    const url = safeHttpUrl(citation.url, "http://invalid/");
    if (!url || hostOf(url) === "") return null;
    return { key: `web:${url}`, kind: "web", url, title: citation.title || hostOf(url) };
  }
  if (DOCUMENT_LOCATIONS.has(citation.type)) {
    const index = Number.isInteger(citation.document_index) ? citation.document_index : null;
    const title = citation.document_title || (index !== null ? `Document ${index + 1}` : "A document");
    return { key: index !== null ? `doc:${index}` : `doc:${title}`, kind: "document", url: null, title };
  }
  return null;
}

/* Where in its document a passage is: "p. 3", "pp. 3–5" (page_location's end is
 * exclusive; a no-break space keeps the number with its "p."), "" when the citation does
 * not say in pages. */
export function pagesText(citation) {
  if (!citation || citation.type !== "page_location") return "";
  const start = Number(citation.start_page_number);
  if (!Number.isInteger(start) || start < 1) return "";
  const last = Number(citation.end_page_number) - 1;
  return Number.isInteger(last) && last > start ? `pp.\u00a0${start}–${last}` : `p.\u00a0${start}`;
}

/* The numbers of a reply's sources, from its content blocks (first first): `sources` in
 * number order, each {number, key, kind, title, url, passages: [citation]}, and
 * `numberOf(citation)`. */
export function numberCitations(blocks) {
  const byKey = new Map();
  for (const block of Array.isArray(blocks) ? blocks : []) {
    if (!block || block.type !== "text" || !Array.isArray(block.citations)) continue;
    for (const citation of block.citations) {
      const source = citationSource(citation);
      if (!source) continue;
      if (!byKey.has(source.key)) byKey.set(source.key, { number: byKey.size + 1, ...source, passages: [] });
      byKey.get(source.key).passages.push(citation);
    }
  }
  return {
    sources: [...byKey.values()],
    numberOf(citation) {
      const source = citationSource(citation);
      return source && byKey.has(source.key) ? byKey.get(source.key).number : null;
    },
  };
}

/* The references after one cited text block: one per source it cites, in number order,
 * each {number, source, passages: [{text, where}]}, `where` the page(s) for page_location. */
export function blockReferences(block, numbering) {
  const refs = new Map();
  for (const citation of Array.isArray(block && block.citations) ? block.citations : []) {
    const number = numbering.numberOf(citation);
    if (number === null) continue;
    if (!refs.has(number)) refs.set(number, { number, source: numbering.sources[number - 1], passages: [] });
    const text = typeof citation.cited_text === "string" ? citation.cited_text.trim() : "";
    refs.get(number).passages.push({ text, where: pagesText(citation) });
  }
  return [...refs.values()].sort((a, b) => a.number - b.number);
}

/* A source in words, for the popover and the Sources list: the document's title and the
 * pages cited, or the page's title and host. */
export function sourceLine(source) {
  if (source.kind === "web") {
    const host = hostOf(source.url);
    return host && host !== source.title ? `${source.title} (${host})` : source.title;
  }
  const pages = [...new Set(source.passages.map(pagesText).filter(Boolean))];
  return pages.length ? `${source.title}, ${pages.join(", ")}` : source.title;
}

/* A signature of the sources: the Sources list is drawn again only when it changes. */
export const sourcesSignature = (sources) => sources.map((s) => `${s.number}\u0000${sourceLine(s)}`).join("\u0001");

// Where the references of a cited block go in the run's Markdown, until citation-view.js
// puts them in the rendered page; the model's own text can never hold one.
export const MARK_START = "\uE000";
export const MARK_END = "\uE001";
const MARKS = /[\uE000\uE001]/g;
export const MARK_PATTERN = /\uE000(\d+)\uE001/g;

/* One run of consecutive text blocks as one Markdown text (a cited passage is often part
 * of a sentence), with a mark after each cited block: {markdown, references}, the mark `k`
 * standing for references[k] (blockReferences of that block). */
export function runMarkdown(blocks, numbering) {
  const references = [];
  const parts = blocks.map((block) => {
    const text = String((block && block.text) || "").replace(MARKS, "");
    const refs = blockReferences(block, numbering);
    if (!refs.length) return text;
    references.push(refs);
    const mark = `${MARK_START}${references.length - 1}${MARK_END}`;
    return text.replace(/\s*$/, (space) => mark + space);
  });
  return { markdown: parts.join(""), references };
}
