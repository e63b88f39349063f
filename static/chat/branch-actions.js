/*
 * Edits, regenerations and switches of branch (docs/protocol.md), as the page sends them
 * and shows their answer. An edit or a regeneration is sent like a user message (kept in
 * `unacknowledged`, so it is resent after a reconnect until answered): a branch frame with
 * its client_id answers it, an error frame with its client_id refuses it. A branch frame,
 * whoever caused it, replaces the messages shown (history.showBranch).
 */

import { messageAttachments, showMessageAttachments } from "./attachment-view.js";
import { randomUuid } from "./composer.js";
import { bodyOf, metaOf } from "./history.js";

/* `editor()` gives message-tools.js, which opens the editor on a message again. */
export function createBranches({ page, socket, unacknowledged, history, composer, sidebar, editor }) {
  let switchFocus = null; // after a switch from a version button: {id, action} to focus again

  function canBranch() {
    if (!page.conversation) return false;
    if (composer.isBusy()) {
      composer.alert("Wait for the current reply to finish.");
      return false;
    }
    return true;
  }

  function sendRequest(fields, extra) {
    const frame = { conversation_id: page.conversation.id, client_id: randomUuid(), ...fields };
    unacknowledged.add(frame, extra);
    socket.send(frame);
    sidebar.touch(page.conversation.id);
    composer.update();
  }

  const actions = {
    // The message shows its new text and files, "Sending…", until the branch frame
    // replaces it. The edit names every file of the new version: those kept and those added.
    edit(messageId, text, attachments = []) {
      const el = history.element(messageId);
      if (!el) return;
      if (!canBranch()) {
        editor().startEdit(el, { text, attachments, error: "Wait for the current reply to finish before editing." });
        return;
      }
      const original = bodyOf(el).textContent;
      const originalAttachments = messageAttachments(el);
      bodyOf(el).textContent = text;
      showMessageAttachments(el, attachments);
      el.dataset.status = "pending";
      const note = document.createElement("span");
      note.className = "pending-note";
      note.textContent = "Sending…";
      metaOf(el).replaceChildren(note);
      const frame = { type: "edit", message_id: messageId, text, attachments: attachments.map((a) => a.id) };
      sendRequest(frame, { el, original, originalAttachments, attachments });
    },

    regenerate(messageId) {
      if (canBranch()) sendRequest({ type: "regenerate", message_id: messageId }, {});
    },

    // `action` names the version button pressed, to keep the focus on it.
    switchTo(messageId, action) {
      if (messageId == null || !canBranch()) return;
      switchFocus = { id: messageId, action };
      socket.send({ type: "switch", conversation_id: page.conversation.id, message_id: messageId });
    },
  };

  // The server refused an edit or a regeneration: an edit reopens with its text.
  function refused(entry, text) {
    unacknowledged.remove(entry.frame.client_id);
    if (entry.frame.type === "edit" && entry.el && entry.el.isConnected) {
      bodyOf(entry.el).textContent = entry.original;
      showMessageAttachments(entry.el, entry.originalAttachments || []);
      entry.el.dataset.status = "complete";
      metaOf(entry.el).replaceChildren();
      editor().startEdit(entry.el, { text: entry.frame.text, attachments: entry.attachments || [], error: text });
    } else {
      composer.alert(text);
    }
    composer.setAwaitingReply(false);
    composer.update();
  }

  // After a switch, the version buttons of the message switched to keep the focus.
  function refocusAfterSwitch() {
    const wanted = switchFocus;
    switchFocus = null;
    const el = wanted && history.element(wanted.id);
    if (!el) return;
    const buttons = Array.from(el.querySelectorAll(".versions button:not(:disabled)"));
    (buttons.find((b) => b.dataset.action === wanted.action) || buttons[0])?.focus();
  }

  // A branch frame; `shown`: it is about the conversation this tab shows.
  function show(frame, shown) {
    const sent = frame.client_id ? unacknowledged.remove(frame.client_id) : null;
    if (!shown || !Array.isArray(frame.messages)) {
      composer.update();
      return;
    }
    const stick = Boolean(sent) || history.isNearBottom();
    history.showBranch(frame.messages);
    const last = frame.messages[frame.messages.length - 1];
    if (sent && !(last && last.role === "assistant")) composer.setAwaitingReply(true);
    composer.update();
    if (stick) history.scrollToBottom();
    if (switchFocus) refocusAfterSwitch();
  }

  return { actions, refused, show };
}
