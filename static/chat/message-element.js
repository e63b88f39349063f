/*
 * The element of one message in the history, whoever draws into it: its author, its
 * attachments (attachment-view.js adds them above the body), its body, the line under it
 * (meta) and its buttons (toolbar).
 */

export const bodyOf = (el) => el.querySelector(".message-body");
export const metaOf = (el) => el.querySelector(".message-meta");
export const toolbarOf = (el) => el.querySelector(".message-toolbar");

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
  const toolbar = document.createElement("div");
  toolbar.className = "message-toolbar";
  el.append(author, body, meta, toolbar);
  return el;
}
