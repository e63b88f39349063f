/*
 * What the chat page writes as text: counts, tokens, money, links, a message's text.
 * Pure functions (no DOM, no globals), so that node's test runner can import them
 * (tests/js/format.test.mjs).
 */

export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]
));

export const formatCount = (value) => Number(value || 0).toLocaleString("en-US");

// Code points, as the server counts a message's characters.
export function countCharacters(text) {
  let n = 0;
  for (const _ of text) n += 1; // eslint-disable-line no-unused-vars
  return n;
}

export function textOfContent(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.filter((b) => b && b.type === "text").map((b) => b.text || "").join("\n\n");
}

// A tool call's input: the raw JSON while it streams, then the parsed object.
export function toolInputText(block) {
  if (typeof block._partial === "string") return block._partial;
  try {
    return JSON.stringify(block.input ?? {});
  } catch (e) {
    return "";
  }
}

export function formatUsage(usage) {
  let text = `${formatCount(usage.input_tokens)} in · ${formatCount(usage.output_tokens)} out tokens`;
  if (usage.cache_read_input_tokens) text += ` · ${formatCount(usage.cache_read_input_tokens)} cache read`;
  if (usage.cache_creation_input_tokens) text += ` · ${formatCount(usage.cache_creation_input_tokens)} cache write`;
  return text;
}

export function formatMoney(value) {
  const amount = Number(value);
  if (!Number.isFinite(amount)) return "";
  return "$" + amount.toFixed(amount !== 0 && amount < 0.01 ? 6 : 4);
}

// A reply's cost: exact once saved; "no price" (never $0) when its model has none.
export function formatCost(cost, priced) {
  if (priced === false) return " · no price";
  if (cost == null) return "";
  return " · " + formatMoney(cost);
}

const STOP_REASON_NOTES = {
  max_tokens: "Cut off: max tokens reached",
  refusal: "Declined",
  pause_turn: "Paused",
};

// The tag a completed reply shows for an unusual stop reason, or "".
export const stopReasonNote = (reason) => (
  Object.prototype.hasOwnProperty.call(STOP_REASON_NOTES, reason) ? STOP_REASON_NOTES[reason] : ""
);

// The URL if it is http(s), absolute; anything else (javascript:, data:, junk) is null.
export function safeHttpUrl(url, base = globalThis.location?.href) {
  try {
    const parsed = new URL(url, base);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (e) {
    return null;
  }
}

// The http(s) links among citations or search results, with their titles.
export function httpLinks(items, base) {
  return items
    .map((item) => ({ url: item && safeHttpUrl(item.url, base), title: item && (item.title || item.url) }))
    .filter((item) => item.url);
}
