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

/* A message's text: its text blocks; consecutive ones run on (the API splits cited text
 * into blocks of their own), others are a paragraph apart. */
export function textOfContent(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  const runs = [];
  let previous = null;
  for (const block of content) {
    const isText = Boolean(block) && block.type === "text";
    if (isText && previous && previous.type === "text") runs[runs.length - 1] += block.text || "";
    else if (isText) runs.push(block.text || "");
    previous = block;
  }
  return runs.join("\n\n");
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

// What a reply's server tools did, for its usage line: " · 2 web searches · 1 page read".
export function formatServerTools(usage) {
  const tools = (usage && usage.server_tool_use) || {};
  const searches = Number(tools.web_search_requests) || 0;
  const fetches = Number(tools.web_fetch_requests) || 0;
  let text = "";
  if (searches > 0) text += ` · ${formatCount(searches)} web search${searches === 1 ? "" : "es"}`;
  if (fetches > 0) text += ` · ${formatCount(fetches)} page${fetches === 1 ? "" : "s"} read`;
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
