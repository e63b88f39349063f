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
  if (usage.cache_read_input_tokens) text += ` · ${formatCount(usage.cache_read_input_tokens)} cached`;
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

// Why a finished reply stopped, in words; `reply` is its state (protocol.js createReply).
const STOP_REASONS = {
  max_tokens: (reply) => (reply.usage && reply.usage.output_tokens
    ? `Cut off at ${formatCount(reply.usage.output_tokens)} tokens`
    : "Cut off at the reply's token limit"),
  stop_sequence: (reply) => (reply.stopSequence
    ? `Stopped at the stop sequence “${reply.stopSequence}”`
    : "Stopped at a stop sequence"),
  refusal: (reply) => (reply.usage && reply.usage.output_tokens
    ? `Claude declined to answer this request. The ${formatCount(reply.usage.output_tokens)} `
      + "tokens it wrote are billed."
    : "Claude declined to answer this request."),
  pause_turn: () => "Paused before the end: send a message to go on",
  model_context_window_exceeded: () => "The conversation filled the model's context window",
};

/* What a reply shows of its stop reason: {kind, text}, or null. `kind` is "refusal" (shown
 * as a refusal, not as an error), "paused" (a pause the server goes on from, while the
 * reply streams) or "note". A reason this page does not know is shown as it came. */
export function stopReasonNote(reply) {
  const reason = reply.stopReason;
  if (!reason || reason === "end_turn") return null;
  if (!reply.final) return reason === "pause_turn" ? { kind: "paused", text: "Paused; continuing…" } : null;
  if (reply.status !== "complete") return null;
  if (!Object.prototype.hasOwnProperty.call(STOP_REASONS, reason)) return { kind: "note", text: `Stopped: ${reason}` };
  return { kind: reason === "refusal" ? "refusal" : "note", text: STOP_REASONS[reason](reply) };
}

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
