/*
 * The client side of docs/protocol.md for one assistant reply: applies the server's reply
 * frames to the reply's state. Pure (no DOM, no window, no network), so that node's test
 * runner checks it frame by frame (tests/js/protocol.test.mjs).
 *
 * The events a frame relays are accumulated as ReplyState.apply does on the server
 * (chatapp/llm/stream.py); on top of them come the rules only a tab has: the seq order, the
 * resync that replaces everything shown, message_stop's saved message, error frames.
 */

import { textOfContent } from "./format.js";

export const USAGE_FIELDS = [
  "input_tokens",
  "output_tokens",
  "cache_creation_input_tokens",
  "cache_read_input_tokens",
];

export function createReply(id) {
  return {
    id: String(id),
    blocks: [], // the API's content blocks; a tool call streaming its input keeps it in `_partial`
    status: "streaming", // then complete, stopped or error
    error: null, // {code, message}
    usage: null,
    cost: null, // exact USD decimal string, once saved
    priced: null, // false: the model has no price, so the cost is unknown (never 0)
    stopReason: null,
    stopSequence: null, // the stop sequence the reply stopped at, if it did
    final: false, // ended: no frame changes it any more
    lastSeq: null, // seq of the last frame applied
  };
}

// What a frame changed, for the view: `rebuild` everything, or re-render `dirty` blocks.
const changed = ({ rebuild = false, dirty = [] } = {}) => ({ rebuild, dirty });

export const errorText = (frame) => frame.message || frame.code || "Something went wrong.";

/* Applies one reply frame to `reply` (in place). Returns what changed, or null when the
 * frame is ignored: the reply has ended, or the frame is not newer than the last applied. */
export function applyFrame(reply, frame) {
  if (reply.final) return null; // its saved message is the whole story
  const apply = Object.prototype.hasOwnProperty.call(APPLY, frame.type) ? APPLY[frame.type] : null;
  if (!apply) return null;
  if (!UNORDERED.has(frame.type) && !newer(reply, frame)) return null;
  return apply(reply, frame);
}

// A resync sets the seq itself; an error frame carries none.
const UNORDERED = new Set(["resync", "error"]);

function newer(reply, frame) {
  if (typeof frame.seq !== "number") return true;
  if (reply.lastSeq !== null && frame.seq <= reply.lastSeq) return false;
  reply.lastSeq = frame.seq;
  return true;
}

/* Replaces the reply with a message object (a saved message, or a resync's reply so far). */
export function applyMessage(reply, message) {
  reply.blocks = Array.isArray(message.content)
    ? message.content.map((b) => ({ ...b }))
    : [{ type: "text", text: textOfContent(message.content) }];
  reply.status = message.status || "complete";
  reply.error = message.error || null;
  reply.usage = message.usage || null;
  reply.cost = message.cost != null ? message.cost : null;
  reply.priced = message.priced != null ? message.priced : null;
  // A saved message may not say which stop sequence it stopped at: the stream did.
  const streamedSequence = message.stop_reason === "stop_sequence" ? reply.stopSequence : null;
  reply.stopReason = message.stop_reason || null;
  reply.stopSequence = message.stop_sequence || streamedSequence || null;
  reply.final = reply.status !== "streaming";
  return changed({ rebuild: true });
}

// Usage is cumulative: each report replaces the counts it carries, never adds.
function mergeUsage(reply, usage) {
  if (!usage) return;
  const merged = { ...(reply.usage || {}) };
  for (const [name, value] of Object.entries(usage)) {
    if (value != null) merged[name] = value;
  }
  reply.usage = merged;
}

const FALLBACK_BLOCKS = {
  text: () => ({ type: "text", text: "" }),
  thinking: () => ({ type: "thinking", thinking: "" }),
  tool_use: () => ({ type: "tool_use", name: "tool", input: {}, _partial: "" }),
};

// The block a delta goes to; one whose start was missed is made up, and the view rebuilt.
function deltaTarget(reply, index, type) {
  const created = !reply.blocks[index];
  if (created) reply.blocks[index] = FALLBACK_BLOCKS[type]();
  return [reply.blocks[index], created];
}

// Deltas whose text is appended to a field of their block: the block type made up when its
// start was missed, the block's field, the delta's field.
const APPENDED = {
  text_delta: ["text", "text", "text"],
  thinking_delta: ["thinking", "thinking", "thinking"],
  input_json_delta: ["tool_use", "_partial", "partial_json"],
};

function applyDelta(reply, index, delta) {
  if (Object.prototype.hasOwnProperty.call(APPENDED, delta.type)) {
    const [type, field, deltaField] = APPENDED[delta.type];
    const [block, created] = deltaTarget(reply, index, type);
    block[field] = (block[field] || "") + (delta[deltaField] || "");
    return changed({ rebuild: created, dirty: [index] });
  }
  if (delta.type === "signature_delta") {
    const [block, created] = deltaTarget(reply, index, "thinking");
    block.signature = delta.signature;
    return changed({ rebuild: created }); // nothing visible changes
  }
  if (delta.type === "citations_delta") {
    const [block, created] = deltaTarget(reply, index, "text");
    block.citations = [...(block.citations || []), delta.citation];
    return changed({ rebuild: created, dirty: [index] });
  }
  return changed();
}

const APPLY = {
  message_start(reply, frame) {
    reply.status = "streaming";
    const message = frame.message || {};
    mergeUsage(reply, message.usage);
    if (Array.isArray(message.content) && message.content.length) {
      reply.blocks = message.content.map((b) => ({ ...b }));
      return changed({ rebuild: true });
    }
    return changed();
  },

  content_block_start(reply, frame) {
    const block = { ...(frame.content_block || { type: "text" }) };
    if (block.type === "text") block.text = block.text || "";
    if (block.type === "thinking") block.thinking = block.thinking || "";
    if (/tool_use$/.test(block.type)) block._partial = "";
    reply.blocks[frame.index] = block;
    return changed({ dirty: [frame.index] });
  },

  content_block_delta(reply, frame) {
    return applyDelta(reply, frame.index, frame.delta || {});
  },

  content_block_stop(reply, frame) {
    const block = reply.blocks[frame.index];
    if (!block || typeof block._partial !== "string") return changed();
    try {
      block.input = block._partial ? JSON.parse(block._partial) : {};
      delete block._partial;
    } catch (e) { /* invalid JSON: keep showing the raw text */ }
    return changed({ dirty: [frame.index] });
  },

  message_delta(reply, frame) {
    if (frame.delta && frame.delta.stop_reason) {
      reply.stopReason = frame.delta.stop_reason;
      reply.stopSequence = frame.delta.stop_sequence || null;
    }
    mergeUsage(reply, frame.usage);
    return changed();
  },

  // The reply has ended and is saved: its message replaces the reply, with its final status.
  message_stop(reply, frame) {
    return frame.message ? applyMessage(reply, frame.message) : changed();
  },

  // Everything so far, instead of frames the tab missed: it always replaces, and its seq
  // is where the frames that follow take over. A message no longer streaming ends the reply.
  resync(reply, frame) {
    if (!frame.message) return null;
    if (typeof frame.seq === "number") reply.lastSeq = frame.seq;
    return applyMessage(reply, frame.message);
  },

  // The reply failed; the message_stop that follows carries the saved message.
  error(reply, frame) {
    if (!reply.error) reply.error = { code: frame.code, message: errorText(frame) };
    reply.status = "error";
    return changed();
  },
};
