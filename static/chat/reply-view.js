/*
 * One assistant reply on the page: its state (protocol.js) and the element showing it. The
 * content blocks are drawn in segments: a run of consecutive text blocks is one segment
 * (the API splits cited text into blocks of their own, often mid-sentence), any other
 * block is one by itself. While the reply streams, only the segments a frame changed are
 * drawn again; citations are numbered across the whole reply, listed under it as Sources.
 */

import { numberCitations, sourcesSignature } from "./citations.js";
import { renderSources } from "./citation-view.js";
import { element } from "./dom.js";
import { bodyOf, createMessageElement, metaOf } from "./message-element.js";
import { createReply } from "./protocol.js";
import { renderReplyMeta, renderSegment } from "./render.js";

/* The segments of a reply's blocks: [{type, start, indices}], a run of text blocks as one. */
export function segmentsOf(blocks) {
  const segments = [];
  blocks.forEach((block, index) => {
    const type = (block && block.type) || "text";
    const last = segments[segments.length - 1];
    if (type === "text" && last && last.type === "text" && last.indices[last.indices.length - 1] === index - 1) {
      last.indices.push(index);
    } else {
      segments.push({ type, start: index, indices: [index] });
    }
  });
  return segments;
}

// Blocks only ever come after the others: segments drawn before are still in place.
const extends_ = (before, after) => Boolean(before) && before.length <= after.length
  && before.every((segment, i) => after[i].start === segment.start && after[i].type === segment.type);

export class ReplyView {
  // `statusChanged(view)` is called when the reply's status changes, for its buttons.
  constructor(id, statusChanged) {
    this.statusChanged = statusChanged;
    this.shownStatus = null;
    this.state = createReply(id);
    this.el = createMessageElement("assistant");
    this.el.dataset.messageId = this.state.id;
    this.el.dataset.status = this.state.status;
    this.sourcesEl = element("div", "reply-sources");
    this.sourcesEl.setAttribute("role", "group");
    this.sourcesEl.setAttribute("aria-label", "Sources");
    this.sourcesEl.hidden = true;
    this.shownSources = "";
    bodyOf(this.el).after(this.sourcesEl);
    this.segments = null;
    this.segmentEls = new Map(); // first block index -> element
    this.dirtyBlocks = new Set();
    this.rebuild = true;
    this.liveBlock = -1; // the block being written, as last rendered
    // Folds (a thinking block, search results) the person opened or closed (first block
    // index -> open): kept as they left them while the reply streams and when it is
    // rebuilt at its end.
    this.foldOpen = new Map();
    // A summary's click runs before it toggles: Enter and Space on it click too.
    this.el.addEventListener("click", (event) => {
      const summary = event.target.closest(".block details > summary");
      if (!summary) return;
      const index = Number(summary.closest(".block").dataset.index);
      if (Number.isInteger(index)) this.foldOpen.set(index, !summary.parentElement.open);
    });
  }

  // Notes what a frame changed (protocol.js applyFrame) for the next render.
  note(change) {
    if (change.rebuild) this.rebuild = true;
    for (const index of change.dirty) this.dirtyBlocks.add(index);
  }

  // How a fold starting at `index` is shown: a thinking block is open while it is written.
  foldView(index, segment) {
    const live = segment.indices.includes(this.liveBlock);
    const wanted = segment.type === "thinking" ? live : false;
    return { live, open: this.foldOpen.has(index) ? this.foldOpen.get(index) : wanted };
  }

  drawSegment(segment, context) {
    let el = this.segmentEls.get(segment.start);
    if (!el) {
      el = document.createElement("div");
      el.dataset.index = String(segment.start);
      bodyOf(this.el).append(el);
      this.segmentEls.set(segment.start, el);
    }
    const blocks = segment.indices.map((i) => this.state.blocks[i]).filter(Boolean);
    renderSegment(el, blocks, { ...context, index: segment.start, fold: this.foldView(segment.start, segment) });
  }

  render() {
    const reply = this.state;
    const wasLive = this.liveBlock;
    this.liveBlock = reply.final ? -1 : reply.blocks.length - 1;
    const segments = segmentsOf(reply.blocks);
    const numbering = numberCitations(reply.blocks);
    const context = {
      blocks: reply.blocks, numbering, streaming: !reply.final, final: reply.final, idPrefix: `cite-${reply.id}`,
    };
    if (this.rebuild || !extends_(this.segments, segments)) {
      bodyOf(this.el).replaceChildren();
      this.segmentEls.clear();
      for (const segment of segments) this.drawSegment(segment, context);
      this.rebuild = false;
    } else {
      if (wasLive !== this.liveBlock && wasLive >= 0) this.dirtyBlocks.add(wasLive); // it has ended
      segments.forEach((segment, i) => {
        const before = this.segments[i];
        const grown = !before || before.indices.length !== segment.indices.length;
        if (grown || segment.indices.some((index) => this.dirtyBlocks.has(index))) this.drawSegment(segment, context);
      });
    }
    this.segments = segments;
    this.dirtyBlocks.clear();
    const signature = sourcesSignature(numbering.sources);
    if (signature !== this.shownSources) {
      this.shownSources = signature;
      renderSources(this.sourcesEl, numbering.sources);
    }
    this.el.dataset.status = reply.status;
    renderReplyMeta(metaOf(this.el), reply);
    const status = `${reply.status}:${reply.final}`;
    if (status !== this.shownStatus) {
      this.shownStatus = status;
      this.statusChanged(this);
    }
  }
}
