/*
 * The composer: sends what is typed (Enter) as a user_message, grows with its text, counts
 * characters as the server does, stops a reply (Stop or Escape), shows the messages not
 * yet stored (Sending…, or Not sent with Retry and Edit) and the alerts above it. It is
 * locked while a message is on its way or a reply streams; Send waits for the attached
 * files (attachment-tray.js) to upload, and says why.
 */

import { showMessageAttachments } from "./attachment-view.js";
import { countCharacters, formatCount } from "./format.js";
import { bodyOf, createMessageElement, metaOf } from "./history.js";

// If the server accepted our message but no reply frame ever comes (e.g. the error
// went to another tab), unlock the composer rather than leave it stuck forever.
const AWAITING_REPLY_TIMEOUT_MS = 120000;
const MAX_ALERTS = 3;

export function randomUuid(crypto = globalThis.crypto) {
  if (typeof crypto.randomUUID === "function") {
    try { return crypto.randomUUID(); } catch (e) { /* insecure context */ }
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const button = (className, text, onClick) => {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  el.addEventListener("click", onClick);
  return el;
};

/* `page.conversation` is the conversation shown (null for a new chat); `newChatFields()`
 * gives the model and system prompt a new conversation starts with; `editLast()` opens the
 * editor on the person's last message (the ↑ key in an empty composer); `files` is the
 * composer's attachment tray. */
export function createComposer({
  els, page, unacknowledged, history, send, maxChars, newChatFields, onSent, editLast, files,
}) {
  let awaitingReply = false;
  let awaitingTimer = 0;
  let stopRequested = false;

  function isBusy() {
    return unacknowledged.hasPending() || awaitingReply || history.anyStreaming();
  }

  function update() {
    const busy = isBusy();
    // readOnly + aria-disabled instead of `disabled` keeps keyboard focus in the composer.
    els.composer.readOnly = busy;
    els.composer.setAttribute("aria-disabled", busy ? "true" : "false");
    const hold = files.holdReason();
    els.send.disabled = busy || Boolean(hold);
    els.send.title = hold;
    els.stop.hidden = !busy;
    els.form.classList.toggle("is-busy", busy);
    els.history.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function setAwaitingReply(value) {
    awaitingReply = value;
    clearTimeout(awaitingTimer);
    if (value) {
      awaitingTimer = setTimeout(() => {
        awaitingReply = false;
        update();
      }, AWAITING_REPLY_TIMEOUT_MS);
    }
  }

  function autoGrow() {
    const c = els.composer;
    c.style.height = "auto";
    c.style.height = `${Math.min(c.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
  }

  function alert(text) {
    const box = document.createElement("div");
    box.className = "alert";
    box.setAttribute("role", "alert");
    const span = document.createElement("span");
    span.className = "alert-text";
    span.textContent = text;
    const dismiss = button("alert-dismiss", "×", () => {
      box.remove();
      els.composer.focus();
    });
    dismiss.setAttribute("aria-label", "Dismiss");
    box.append(span, dismiss);
    els.alerts.append(box);
    while (els.alerts.children.length > MAX_ALERTS) els.alerts.firstElementChild.remove();
  }

  function renderPendingMeta(entry) {
    const meta = metaOf(entry.el);
    meta.replaceChildren();
    entry.el.dataset.status = entry.status;
    const note = document.createElement("span");
    if (entry.status === "pending") {
      note.className = "pending-note";
      note.textContent = "Sending…";
      meta.append(note);
      return;
    }
    note.className = "failed-note";
    note.textContent = entry.error ? `Not sent: ${entry.error}` : "Not sent";
    const actions = document.createElement("span");
    actions.className = "message-actions";
    const clientId = entry.frame.client_id;
    actions.append(
      button("button small retry-button", "Retry", () => retry(clientId)),
      button("button small edit-button", "Edit", () => edit(clientId)),
    );
    meta.append(note, actions);
  }

  function submit() {
    const text = els.composer.value;
    if (isBusy() || files.holdReason()) return;
    if (!text.trim()) {
      if (!files.isEmpty()) alert("Write a message to send with your files.");
      return;
    }
    const length = countCharacters(text);
    if (length > maxChars) {
      alert(`Your message is too long: ${formatCount(length)} characters, `
        + `the limit is ${formatCount(maxChars)}.`);
      return;
    }
    els.alerts.replaceChildren();
    const clientId = randomUuid();
    const frame = {
      type: "user_message",
      conversation_id: page.conversation ? page.conversation.id : null,
      text,
      client_id: clientId,
    };
    const attachments = files.attachments();
    if (attachments.length) frame.attachments = attachments.map((attachment) => attachment.id);
    if (!page.conversation) {
      Object.assign(frame, newChatFields());
      page.newChatClientIds.add(clientId);
    }
    const el = createMessageElement("user");
    el.dataset.clientId = clientId;
    bodyOf(el).textContent = text;
    showMessageAttachments(el, attachments);
    renderPendingMeta(unacknowledged.add(frame, { el, attachments }));
    history.insert(el, null);
    send(frame);
    if (page.conversation) onSent(page.conversation.id);

    els.composer.value = "";
    files.clear();
    autoGrow();
    els.composer.focus();
    update();
    history.scrollToBottom();
  }

  function retry(clientId) {
    const entry = unacknowledged.get(clientId);
    if (!entry) return;
    if (isBusy()) {
      alert("Wait for the current reply to finish before retrying.");
      return;
    }
    unacknowledged.retry(entry);
    renderPendingMeta(entry);
    send(entry.frame);
    update();
    els.composer.focus();
  }

  function edit(clientId) {
    const entry = unacknowledged.remove(clientId);
    if (!entry) return;
    entry.el.remove();
    els.composer.value = entry.frame.text;
    files.keep(entry.attachments || []);
    autoGrow();
    els.composer.focus();
    history.showEmptyIfNone();
    update();
  }

  // The server refused the message: it stays, marked, for a retry or an edit.
  function refused(entry, text) {
    unacknowledged.fail(entry, text);
    renderPendingMeta(entry);
  }

  function requestStop() {
    if (page.conversation) {
      send({ type: "stop", conversation_id: page.conversation.id });
    } else {
      // The conversation id is not known yet: stop as soon as it is.
      stopRequested = true;
    }
  }

  // The new chat's conversation now has an id: a Stop pressed before it can be sent.
  function conversationKnown(id) {
    if (!stopRequested) return;
    stopRequested = false;
    send({ type: "stop", conversation_id: id });
  }

  // After a reply ends, typing goes on in the composer unless the person went elsewhere.
  function refocus() {
    const active = document.activeElement;
    if (!active || active === document.body || active === els.stop || active === els.send) {
      els.composer.focus();
    }
  }

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  els.composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && !event.shiftKey && isBusy()) {
      event.preventDefault();
      requestStop();
    } else if (event.key === "ArrowUp" && !els.composer.value && !isBusy()
      && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      if (editLast()) event.preventDefault();
    }
  });
  els.composer.addEventListener("input", autoGrow);
  els.stop.addEventListener("click", () => {
    requestStop();
    els.composer.focus();
  });

  return {
    update, setAwaitingReply, alert, refused, conversationKnown, refocus, autoGrow, isBusy, requestStop,
  };
}
