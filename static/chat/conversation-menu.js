/*
 * Each conversation's menu in the sidebar: Rename (in place), Pin or Unpin, Export as
 * Markdown or JSON, Delete (after a confirmation dialog). One menu element serves every
 * conversation: it opens under the "⋯" button pressed, is worked with the arrow keys, and
 * closes with Escape, a click elsewhere, or focus leaving it.
 */

import { element } from "./dom.js";
import { errorText, failureText, postForm } from "./http.js";
import { titleText } from "./sidebar.js";

function menuItem(tag, action, text) {
  const el = element(tag, "conversation-menu-item", text);
  el.dataset.action = action;
  if (tag === "button") el.type = "button";
  return el;
}

/* `onChanged(conversation)`: a conversation's title or pin changed here (the page's header
 * follows); `onDeleted(id)`; `onError(text)` for a failure with no field to show it by. */
export function createConversationMenu({ els, urls, sidebar, onChanged, onDeleted, onError }) {
  const menu = element("div", "conversation-menu");
  menu.id = "conversation-menu";
  menu.setAttribute("role", "group");
  menu.hidden = true;
  const exportMarkdown = menuItem("a", "export", "Export as Markdown");
  const exportJson = menuItem("a", "export", "Export as JSON");
  const pinItem = menuItem("button", "pin", "Pin");
  menu.append(
    menuItem("button", "rename", "Rename"),
    pinItem,
    exportMarkdown,
    exportJson,
    menuItem("button", "delete", "Delete"),
  );
  menu.lastElementChild.classList.add("danger");
  let openFor = null; // the "⋯" button the menu is open under

  const conversationOf = (el) => sidebar.get(el.closest(".conversation-item").dataset.conversationId);
  const itemsOf = () => Array.from(menu.querySelectorAll(".conversation-menu-item")).filter((el) => !el.hidden);

  function open(button) {
    close();
    const conversation = conversationOf(button);
    if (!conversation) return;
    openFor = button;
    menu.setAttribute("aria-label", `Options for “${titleText(conversation)}”`);
    pinItem.textContent = conversation.pinned ? "Unpin" : "Pin";
    const exportUrl = urls.export(conversation.id);
    exportMarkdown.hidden = exportJson.hidden = !exportUrl;
    if (exportUrl) {
      exportMarkdown.href = `${exportUrl}?format=md`;
      exportJson.href = `${exportUrl}?format=json`;
      exportMarkdown.setAttribute("download", "");
      exportJson.setAttribute("download", "");
    }
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-controls", menu.id);
    button.closest(".conversation-item").append(menu);
    menu.hidden = false;
    menu.scrollIntoView({ block: "nearest" });
    itemsOf()[0].focus();
  }

  function close({ refocus = false } = {}) {
    if (!openFor) return;
    const button = openFor;
    openFor = null;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (refocus && button.isConnected) button.focus();
  }

  function moveFocus(step) {
    const all = itemsOf();
    const index = all.indexOf(document.activeElement);
    all[(index + step + all.length) % all.length].focus();
  }

  menu.addEventListener("keydown", (event) => {
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      event.preventDefault();
      moveFocus(moves[event.key]);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      const all = itemsOf();
      all[event.key === "Home" ? 0 : all.length - 1].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      close({ refocus: true });
    }
  });
  menu.addEventListener("focusout", (event) => {
    if (openFor && !menu.contains(event.relatedTarget) && event.relatedTarget !== openFor) close();
  });
  document.addEventListener("click", (event) => {
    if (openFor && !menu.contains(event.target) && !openFor.contains(event.target)) close();
  });

  els.list.addEventListener("click", (event) => {
    const button = event.target.closest(".conversation-menu-button");
    if (button) {
      if (openFor === button) close({ refocus: true });
      else open(button);
      return;
    }
    const item = event.target.closest(".conversation-menu-item");
    if (!item || !openFor) return;
    const target = openFor;
    const conversation = conversationOf(target);
    if (item.dataset.action === "export") {
      close(); // the link downloads
      return;
    }
    close();
    if (item.dataset.action === "rename") rename(conversation, target);
    else if (item.dataset.action === "pin") pin(conversation, target);
    else if (item.dataset.action === "delete") confirmDelete(conversation, target);
  });

  // ---- Rename, in place: Enter saves, Escape cancels, leaving the field saves a change.

  function rename(conversation, button) {
    const li = button.closest(".conversation-item");
    const link = li.querySelector(".conversation-link");
    const form = element("form", "rename-form");
    const input = element("input", "rename-input");
    input.type = "text";
    input.value = conversation.title || "";
    input.setAttribute("aria-label", "Conversation title");
    const error = element("p", "field-error");
    error.id = `rename-error-${conversation.id}`;
    error.hidden = true;
    input.setAttribute("aria-describedby", error.id);
    form.append(input, error);
    link.hidden = true;
    button.hidden = true;
    li.prepend(form);
    input.focus();
    input.select();
    let busy = false;
    let done = false;

    function finish() {
      done = true; // removing the field blurs it: that is no reason to save
      form.remove();
      link.hidden = false;
      button.hidden = false;
      link.focus();
    }

    async function save() {
      if (busy || done) return;
      if (input.value === (conversation.title || "")) {
        finish();
        return;
      }
      busy = true;
      const result = await postForm(urls.settings(conversation.id), { title: input.value });
      busy = false;
      if (result.ok && result.data.ok) {
        finish();
        changed(result.data.conversation || { id: conversation.id, title: input.value });
        return;
      }
      const errors = (result.data && result.data.errors) || {};
      error.textContent = errors.title ? errorText(errors.title) : failureText(result, "rename it");
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      if (document.activeElement !== input) input.focus();
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      save();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        finish();
      }
    });
    input.addEventListener("blur", () => {
      if (error.hidden) save();
    });
  }

  function changed(conversation) {
    sidebar.upsert(conversation);
    onChanged(sidebar.get(conversation.id));
  }

  async function pin(conversation, button) {
    const result = await postForm(urls.settings(conversation.id), { pinned: conversation.pinned ? "false" : "true" });
    if (result.ok && result.data.ok) {
      changed(result.data.conversation || { id: conversation.id, pinned: !conversation.pinned });
      const li = sidebar.has(conversation.id) && button.closest(".conversation-item");
      if (li) li.querySelector(".conversation-link").focus();
      return;
    }
    onError(failureText(result, conversation.pinned ? "unpin it" : "pin it"));
  }

  // ---- Delete, once the dialog is confirmed.

  let deleting = null; // {conversation, button}
  const confirmButton = els.dialog.querySelector('[value="delete"]');

  function confirmDelete(conversation, button) {
    deleting = { conversation, button };
    els.dialogText.textContent = `“${titleText(conversation)}” and all its messages will be deleted. `
      + "This cannot be undone.";
    els.dialogError.hidden = true;
    confirmButton.disabled = false;
    els.dialog.showModal();
  }

  els.dialog.addEventListener("submit", async (event) => {
    if (event.submitter !== confirmButton || !deleting) return; // Cancel closes the dialog
    event.preventDefault();
    const { conversation } = deleting;
    confirmButton.disabled = true;
    const result = await postForm(urls.delete(conversation.id));
    confirmButton.disabled = false;
    if (result.ok && result.data.ok) {
      const li = deleting.button.closest(".conversation-item");
      const neighbour = li && (li.nextElementSibling || li.previousElementSibling);
      deleting = null;
      els.dialog.close();
      sidebar.remove(conversation.id);
      const link = neighbour && neighbour.querySelector(".conversation-link");
      (link && link.isConnected ? link : els.fallbackFocus).focus();
      onDeleted(conversation.id);
      return;
    }
    els.dialogError.textContent = failureText(result, "delete it");
    els.dialogError.hidden = false;
  });
  // Closed without deleting (Cancel, Escape): back to the button that opened the menu.
  els.dialog.addEventListener("close", () => {
    if (!deleting) return;
    const { button } = deleting;
    deleting = null;
    if (button.isConnected) button.focus();
  });

  return { close };
}
