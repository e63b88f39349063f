/*
 * The sidebar: the conversation list (newest activity first, the one shown marked), its
 * drawer on a phone, and the month's usage under it.
 */

import { formatCount, formatMoney } from "./format.js";
import { USAGE_FIELDS } from "./protocol.js";

/* The month's usage with one more ended reply in it (the page brings the exact total from
 * the server when it loads; replies that end in this tab are added as they end). */
export function monthWithReply(month, message) {
  const usage = message.usage || {};
  const tokens = USAGE_FIELDS.reduce((sum, name) => sum + Number(usage[name] || 0), 0);
  const added = { ...month, tokens: Number(month.tokens || 0) + tokens };
  if (message.cost != null) added.cost = (Number(month.cost) + Number(message.cost)).toFixed(6);
  return added;
}

export function monthText(month) {
  let text = `This month: ${formatCount(month.tokens)} tokens · ${formatMoney(month.cost)}`;
  if (month.limit != null) text += ` of ${formatMoney(month.limit)}`;
  return text;
}

export const isOverBudget = (month) => month.limit != null && Number(month.cost) >= Number(month.limit);

/* `currentId()` is the id of the conversation shown, or null; `urls.conversation(id)` its
 * address. */
export function createSidebar({ els, urls, currentId, monthToDate }) {
  let month = monthToDate || null;
  const countedReplies = new Set();

  function showMonth() {
    if (!els.monthUsage || !month) return;
    els.monthUsage.textContent = monthText(month);
    els.monthUsage.classList.toggle("over-budget", isOverBudget(month));
  }

  // A reply that ended in this tab (once, however many times its end is seen).
  function countReply(message) {
    if (!month || !message || countedReplies.has(message.id)) return;
    countedReplies.add(message.id);
    month = monthWithReply(month, message);
    showMonth();
  }

  function find(id) {
    return els.list.querySelector(`.conversation-link[data-conversation-id="${CSS.escape(String(id))}"]`);
  }

  function newLink(id) {
    els.list.querySelector(".conversation-empty")?.remove();
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.className = "conversation-link";
    link.href = urls.conversation(id);
    link.dataset.conversationId = String(id);
    const titleSpan = document.createElement("span");
    titleSpan.className = "conversation-title";
    const time = document.createElement("time");
    time.className = "conversation-date";
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleDateString("en-US", { month: "short", day: "numeric" });
    link.append(titleSpan, time);
    li.append(link);
    els.list.prepend(li);
    return link;
  }

  // Adds or renames a conversation; `top` moves it first.
  function upsert(id, title, { top = false } = {}) {
    let link = find(id);
    if (!link) {
      link = newLink(id);
    } else if (top) {
      els.list.prepend(link.closest("li"));
    }
    if (title !== undefined) {
      link.querySelector(".conversation-title").textContent = title || "New chat";
    }
    const shown = currentId();
    const current = shown != null && String(shown) === String(id);
    link.classList.toggle("active", current);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    return link;
  }

  function moveToTop(id) {
    const link = find(id);
    if (link) els.list.prepend(link.closest("li"));
  }

  const has = (id) => Boolean(find(id));

  // On a phone the sidebar is a drawer over the chat.
  function setOpen(open) {
    document.body.classList.toggle("sidebar-open", open);
    els.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    els.backdrop.hidden = !open;
  }
  els.toggle.addEventListener("click", () => {
    setOpen(!document.body.classList.contains("sidebar-open"));
  });
  els.backdrop.addEventListener("click", () => setOpen(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) {
      setOpen(false);
      els.toggle.focus();
    }
  });

  return { upsert, moveToTop, has, countReply, showMonth };
}
