/*
 * The buttons under a stored message: "‹ 2 / 3 ›" between its versions, Copy (its
 * Markdown text), Edit on the person's messages, Regenerate and the feedback thumbs on a
 * finished reply; and the editor an edit opens in place of the message (Enter saves,
 * Shift+Enter is a new line, Escape cancels), with the message's files as chips to remove
 * and more to attach. What the buttons do is the page's business (`actions`); this module
 * only draws them.
 */

import { messageAttachments } from "./attachment-view.js";
import { versionIndicator } from "./branches.js";
import { element } from "./dom.js";
import { textOfContent } from "./format.js";
import { bodyOf, metaOf, toolbarOf } from "./history.js";
import { iconButton } from "./icons.js";
import { copyText } from "./render.js";

function toolButton(action, iconName, label, onClick) {
  const button = iconButton(iconName, label);
  button.dataset.action = action;
  button.addEventListener("click", onClick);
  return button;
}

/* `actions`: edit(messageId, text, attachments), regenerate(messageId), switchTo(messageId,
 * action); `feedback`: feedback.js, which draws the thumbs; `attachmentTray(els)` makes an
 * editor's attachment tray (attachment-tray.js). */
export function createMessageTools({ actions, feedback, attachmentTray }) {
  const trays = new WeakMap(); // an open editor's form -> its attachment tray

  function versionsNav(versions, disabled) {
    const nav = element("span", "versions");
    nav.setAttribute("role", "group");
    nav.setAttribute("aria-label", "Versions");
    const previous = toolButton("previous", "previous", "Previous version",
      () => actions.switchTo(versions.previousId, "previous"));
    const next = toolButton("next", "next", "Next version", () => actions.switchTo(versions.nextId, "next"));
    previous.disabled = disabled || versions.previousId === null;
    next.disabled = disabled || versions.nextId === null;
    nav.append(previous, element("span", "version-text", versions.text), next);
    return nav;
  }

  async function copy(button, text) {
    const ok = await copyText(text);
    button.title = ok ? "Copied" : "Copy failed";
    button.setAttribute("aria-label", button.title);
    button.classList.toggle("is-done", ok);
    setTimeout(() => {
      button.title = "Copy";
      button.setAttribute("aria-label", "Copy");
      button.classList.remove("is-done");
    }, 1500);
  }

  // Draws a stored message's buttons (history.js calls it whenever they may change).
  function decorate(el, info, state) {
    const toolbar = toolbarOf(el);
    const focused = toolbar.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    toolbar.replaceChildren();
    const streaming = Boolean(state) && !state.final;
    const versions = versionIndicator(info);
    if (versions) toolbar.append(versionsNav(versions, streaming));
    if (!streaming) {
      const text = () => (state ? textOfContent(state.blocks) : bodyOf(el).textContent);
      const copyButton = toolButton("copy", "copy", "Copy", () => copy(copyButton, text()));
      toolbar.append(copyButton);
      if (state) {
        toolbar.append(toolButton("regenerate", "regenerate", "Regenerate", () => actions.regenerate(info.id)));
        feedback.render(toolbar, el, info);
      } else {
        toolbar.append(toolButton("edit", "edit", "Edit", () => startEdit(el)));
      }
    }
    if (focused) toolbar.querySelector(`[data-action="${focused}"]`)?.focus();
  }

  function stopEdit(el) {
    const form = el.querySelector(".edit-form");
    if (form) trays.get(form)?.clear();
    form?.remove();
    el.classList.remove("is-editing");
    bodyOf(el).hidden = false;
    toolbarOf(el).hidden = false;
  }

  // The editor's attach button, hidden file input, chips and their status line.
  function attachmentControls(form, input, id, onChange) {
    const button = iconButton("paperclip", "Attach files", "tool-button attach-button");
    const fileInput = element("input");
    fileInput.type = "file";
    fileInput.hidden = true;
    fileInput.id = `${id}-files`;
    const list = element("ul", "attachment-chips");
    list.setAttribute("aria-label", "Attached files");
    const status = element("p", "attachment-status");
    status.id = `${id}-files-status`;
    status.setAttribute("role", "status");
    const tray = attachmentTray({ list, status, button, input: fileInput, text: input }, onChange);
    trays.set(form, tray);
    return { tray, button, fileInput, list, status };
  }

  /* Opens the editor on a stored message of the person's; `text`, `attachments` and `error`
   * reopen it after the server refused the edit. */
  function startEdit(el, { text = bodyOf(el).textContent, attachments = messageAttachments(el), error = "" } = {}) {
    const messageId = Number(el.dataset.messageId);
    if (!messageId) return;
    stopEdit(el);
    const form = element("form", "edit-form");
    const id = `edit-${messageId}`;
    const label = element("label", "visually-hidden", "Edit your message");
    label.htmlFor = id;
    const input = element("textarea", "edit-input");
    input.id = id;
    input.value = text;
    input.rows = Math.min(12, Math.max(2, text.split("\n").length));
    const errorEl = element("p", "field-error", error);
    errorEl.id = `${id}-error`;
    errorEl.hidden = !error;
    errorEl.setAttribute("role", "alert");
    const cancel = element("button", "button small", "Cancel");
    cancel.type = "button";
    const save = element("button", "button small primary", "Save and send");
    save.type = "submit";
    const hint = element("span", "edit-hint", "Enter to save · Esc to cancel");
    let files = null;
    const holdSave = () => {
      if (!files) return;
      save.disabled = Boolean(files.tray.holdReason());
      save.title = files.tray.holdReason();
    };
    files = attachmentControls(form, input, id, holdSave);
    input.setAttribute("aria-describedby", `${errorEl.id} ${files.status.id}`);
    const buttons = element("div", "edit-actions");
    buttons.append(files.button, files.fileInput, hint, cancel, save);
    form.append(files.list, files.status, label, input, errorEl, buttons);
    files.tray.keep(attachments);
    el.classList.add("is-editing");
    bodyOf(el).hidden = true;
    toolbarOf(el).hidden = true;
    metaOf(el).before(form);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);

    const close = () => {
      stopEdit(el);
      toolbarOf(el).querySelector('[data-action="edit"]')?.focus();
    };
    const submit = () => {
      if (files.tray.holdReason()) return; // the status line says why
      if (!input.value.trim()) {
        errorEl.textContent = "Write something to send.";
        errorEl.hidden = false;
        return;
      }
      const newText = input.value;
      const kept = files.tray.attachments();
      stopEdit(el);
      actions.edit(messageId, newText, kept);
    };
    cancel.addEventListener("click", close);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
  }

  // The attachment tray of the editor `target` is in (a file dropped on it), or null.
  const trayAt = (target) => {
    const form = target && target.closest ? target.closest(".edit-form") : null;
    return (form && trays.get(form)) || null;
  };

  return { decorate, startEdit, trayAt };
}
