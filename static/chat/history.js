/*
 * The message history: one element per message of the branch shown, kept in message id
 * order (messages not yet stored, without an id, stay last; along a branch ids only grow),
 * the assistant replies' views (reply-view.js), and their re-rendering, at most once per
 * animation frame while they stream. A person's message shows its attachments above its
 * text. A branch frame replaces what is shown (branches.js plans it). What is known of each
 * message's versions and feedback is kept here; the buttons under a message are drawn by
 * the `decorate` function the page gives (message-tools.js).
 */

import { showMessageAttachments } from "./attachment-view.js";
import { attachmentsOfContent } from "./attachments.js";
import { messageInfo, planBranch } from "./branches.js";
import { textOfContent } from "./format.js";
import { bodyOf, createMessageElement, metaOf } from "./message-element.js";
import { applyMessage } from "./protocol.js";
import { ReplyView } from "./reply-view.js";

export { bodyOf, createMessageElement, metaOf, toolbarOf } from "./message-element.js";

/* `decorate(el, info, state)` draws a stored message's buttons: `info` is what is known of
 * its versions and feedback (branches.js messageInfo), `state` a reply's state (null for a
 * user message). */
/* `changed()` is called once what is shown has changed (a render, a new branch), e.g. for
 * the context gauge. */
export function createHistory({ scroller, list, empty, decorate = () => {}, changed = () => {} }) {
  const replies = new Map(); // assistant message id (string) -> ReplyView
  const userViews = new Map(); // user message id (string) -> element
  const infos = new Map(); // message id (string) -> messageInfo

  function learn(message, options) {
    const key = String(message.id);
    infos.set(key, messageInfo(infos.get(key) || null, message, options));
  }

  function redecorate(key) {
    const info = infos.get(key) || messageInfo(null, { id: key });
    if (userViews.has(key)) decorate(userViews.get(key), info, null);
    else if (replies.has(key)) decorate(replies.get(key).el, info, replies.get(key).state);
  }

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
    showMessageAttachments(el, attachmentsOfContent(message.content));
    metaOf(el).replaceChildren();
    learn(message);
    decorate(el, infos.get(String(message.id)), null);
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
      view = new ReplyView(key, () => redecorate(key));
      replies.set(key, view);
      insert(view.el, key);
    }
    return view || null;
  }

  // A saved reply, as the page brings it.
  function addSavedReply(message) {
    learn(message);
    const view = reply(message.id, { create: true });
    view.note(applyMessage(view.state, message));
    view.render();
    redecorate(String(message.id));
  }

  // A reply's message object from its end (message_stop, resync): it may add versions.
  function learnReply(message) {
    learn(message, { complete: false });
    if (replies.has(String(message.id))) redecorate(String(message.id));
  }

  function setFeedback(messageId, feedback) {
    const key = String(messageId);
    const info = infos.get(key);
    if (!info) return;
    infos.set(key, { ...info, feedback });
    redecorate(key);
  }

  function forget(key) {
    const el = userViews.get(key) || replies.get(key)?.el;
    if (el) el.remove();
    userViews.delete(key);
    replies.delete(key);
    infos.delete(key);
  }

  /* Shows the branch `messages` (first message first) instead of what is shown: messages
   * still on it keep their elements (a streaming reply goes on), the others go. A reply
   * shown as streaming that the branch has ended takes its saved form. */
  function showBranch(messages) {
    const shownIds = [...userViews.keys(), ...replies.keys()];
    const plan = planBranch(shownIds, messages);
    for (const key of plan.remove) forget(key);
    for (const message of messages) {
      const key = String(message.id);
      if (message.role === "user") {
        if (userViews.has(key)) renderUserMessage(userViews.get(key), message);
        else addUserMessage(message);
        continue;
      }
      const view = replies.get(key);
      if (!view) {
        addSavedReply(message);
      } else {
        learn(message);
        if (!view.state.final && message.status !== "streaming") renderNow(view, applyMessage(view.state, message));
        redecorate(key);
      }
    }
    showEmptyIfNone();
    changed();
  }

  // The stored messages shown, in order: [{id, role}].
  const shown = () => Array.from(list.querySelectorAll(".message"), (el) => ({
    id: el.dataset.messageId, role: el.dataset.role,
  }));

  const element = (messageId) => userViews.get(String(messageId)) || replies.get(String(messageId))?.el || null;

  // The usage of each reply shown, first first (null for one that has none yet).
  const replyUsages = () => Array.from(
    list.querySelectorAll('.message[data-role="assistant"]'),
    (el) => replies.get(el.dataset.messageId)?.state.usage || null,
  );

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
    changed();
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
    changed();
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
    showBranch,
    learnReply,
    setFeedback,
    shown,
    element,
    replyUsages,
  };
}
