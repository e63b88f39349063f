/*
 * The message history: one element per message, kept in message id order (messages not
 * yet stored, without an id, stay last), the assistant replies' views, and their
 * re-rendering, at most once per animation frame while they stream.
 */

import { textOfContent } from "./format.js";
import { applyMessage, createReply } from "./protocol.js";
import { renderBlock, renderReplyMeta } from "./render.js";

export const bodyOf = (el) => el.querySelector(".message-body");
export const metaOf = (el) => el.querySelector(".message-meta");

export function createMessageElement(role) {
  const el = document.createElement("article");
  el.className = `message message-${role}`;
  el.dataset.role = role;
  el.dataset.messageId = "";
  el.dataset.status = "";
  const author = document.createElement("div");
  author.className = "message-author";
  author.textContent = role === "user" ? "You" : "Claude";
  const body = document.createElement("div");
  body.className = "message-body";
  const meta = document.createElement("div");
  meta.className = "message-meta";
  el.append(author, body, meta);
  return el;
}

/* An assistant reply: its state (protocol.js) and the element showing it. */
class ReplyView {
  constructor(id) {
    this.state = createReply(id);
    this.el = createMessageElement("assistant");
    this.el.dataset.messageId = this.state.id;
    this.el.dataset.status = this.state.status;
    this.blockEls = [];
    this.dirtyBlocks = new Set();
    this.rebuild = true;
  }

  // Notes what a frame changed (protocol.js applyFrame) for the next render.
  note(change) {
    if (change.rebuild) this.rebuild = true;
    for (const index of change.dirty) this.dirtyBlocks.add(index);
  }

  blockElement(index) {
    if (!this.blockEls[index]) {
      this.blockEls[index] = document.createElement("div");
      bodyOf(this.el).append(this.blockEls[index]);
    }
    return this.blockEls[index];
  }

  render() {
    const reply = this.state;
    const streaming = !reply.final;
    if (this.rebuild) {
      bodyOf(this.el).replaceChildren();
      this.blockEls = [];
      reply.blocks.forEach((block, index) => renderBlock(this.blockElement(index), block, streaming));
      this.rebuild = false;
    } else {
      for (const index of this.dirtyBlocks) {
        const block = reply.blocks[index];
        if (block) renderBlock(this.blockElement(index), block, streaming);
      }
    }
    this.dirtyBlocks.clear();
    this.el.dataset.status = reply.status;
    renderReplyMeta(metaOf(this.el), reply);
  }
}

export function createHistory({ scroller, list, empty }) {
  const replies = new Map(); // assistant message id (string) -> ReplyView
  const userViews = new Map(); // user message id (string) -> element

  function insert(el, id) {
    empty.hidden = true;
    const numericId = Number(id);
    for (const other of list.querySelectorAll(".message")) {
      const otherId = other.dataset.messageId;
      if (id != null && (otherId === "" || Number(otherId) > numericId)) {
        other.before(el);
        return;
      }
    }
    list.append(el);
  }

  function renderUserMessage(el, message) {
    el.dataset.messageId = String(message.id);
    el.dataset.status = message.status || "complete";
    bodyOf(el).textContent = textOfContent(message.content);
    metaOf(el).replaceChildren();
  }

  function addUserMessage(message) {
    const key = String(message.id);
    if (userViews.has(key)) return userViews.get(key);
    const el = createMessageElement("user");
    renderUserMessage(el, message);
    userViews.set(key, el);
    insert(el, message.id);
    return el;
  }

  // A message this tab sent, now stored: its element takes the message's place.
  function placeSentMessage(el, message) {
    const key = String(message.id);
    el.remove();
    if (userViews.has(key)) return; // already shown, e.g. reloaded after a reconnect
    renderUserMessage(el, message);
    userViews.set(key, el);
    insert(el, message.id);
  }

  function reply(messageId, { create = false } = {}) {
    const key = String(messageId);
    let view = replies.get(key);
    if (!view && create) {
      view = new ReplyView(key);
      replies.set(key, view);
      insert(view.el, key);
    }
    return view || null;
  }

  // A saved reply, as the page brings it.
  function addSavedReply(message) {
    const view = reply(message.id, { create: true });
    view.note(applyMessage(view.state, message));
    view.render();
  }

  const anyStreaming = () => Array.from(replies.values()).some((v) => v.state.status === "streaming");
  const hasReplyAfter = (messageId) => Array.from(replies.keys()).some((id) => Number(id) > Number(messageId));

  const isNearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const scrollToBottom = () => { scroller.scrollTop = scroller.scrollHeight; };

  const dirtyReplies = new Set();
  let frameRequest = 0;

  function flushRenders() {
    frameRequest = 0;
    const stick = isNearBottom();
    for (const view of dirtyReplies) view.render();
    dirtyReplies.clear();
    if (stick) scrollToBottom();
  }

  // Re-renders the reply with the next animation frame, with whatever else changed by then.
  function scheduleRender(view, change) {
    view.note(change);
    dirtyReplies.add(view);
    if (!frameRequest) frameRequest = requestAnimationFrame(flushRenders);
  }

  function renderNow(view, change) {
    view.note(change);
    const stick = isNearBottom();
    dirtyReplies.delete(view);
    view.render();
    if (stick) scrollToBottom();
  }

  function showEmptyIfNone() {
    if (!list.querySelector(".message")) empty.hidden = false;
  }

  return {
    insert,
    addUserMessage,
    placeSentMessage,
    reply,
    addSavedReply,
    anyStreaming,
    hasReplyAfter,
    scheduleRender,
    renderNow,
    isNearBottom,
    scrollToBottom,
    showEmptyIfNone,
  };
}
