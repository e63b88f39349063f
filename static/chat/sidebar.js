/*
 * The sidebar: the conversation list in its groups (pinned, then by the day of the last
 * activity; conversations.js decides them), more of it as its end scrolls into view, its
 * drawer on a phone, and the month's usage under it. The page renders the first
 * conversations; this module reads them from the page and renders the list from then on.
 * Each conversation's menu is conversation-menu.js's, the search box search.js's.
 */

import { groupConversations, mergeConversations } from "./conversations.js";
import { element } from "./dom.js";
import { formatCount, formatMoney } from "./format.js";
import { getJson } from "./http.js";
import { icon, iconButton } from "./icons.js";
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

export const titleText = (conversation) => conversation.title || "New chat";

// The conversations the page rendered, as data.
function renderedConversations(list) {
  return Array.from(list.querySelectorAll(".conversation-item[data-conversation-id]"), (li) => ({
    id: Number(li.dataset.conversationId),
    title: li.dataset.title || "",
    pinned: li.dataset.pinned === "true",
    updated_at: li.dataset.updatedAt || null,
  }));
}

/* `currentId()` is the id of the conversation shown, or null; `next` the cursor of the
 * list's next page (null: there is none; undefined: unknown, so the first page is read). */
export function createSidebar({ els, urls, currentId, monthToDate, next }) {
  let month = monthToDate || null;
  const countedReplies = new Set();
  let conversations = renderedConversations(els.list);
  const items = new Map(); // id (string) -> its <li>, kept across renders
  let nextCursor = urls.conversations ? next : null;
  let loading = false;
  let searching = false;

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

  const get = (id) => conversations.find((c) => String(c.id) === String(id)) || null;

  function renderItem(conversation) {
    const key = String(conversation.id);
    let li = items.get(key);
    if (!li) {
      li = element("li", "conversation-item");
      li.dataset.conversationId = key;
      const link = element("a", "conversation-link");
      link.href = urls.conversation(conversation.id);
      link.dataset.conversationId = key;
      const pin = element("span", "pin-mark");
      pin.append(icon("pin"), element("span", "visually-hidden", " (pinned)"));
      link.append(element("span", "conversation-title"), pin);
      const menu = iconButton("more", "More", "conversation-menu-button");
      menu.setAttribute("aria-expanded", "false");
      li.append(link, menu);
      items.set(key, li);
    }
    const link = li.querySelector(".conversation-link");
    const title = titleText(conversation);
    link.querySelector(".conversation-title").textContent = title;
    link.querySelector(".pin-mark").hidden = !conversation.pinned;
    const menu = li.querySelector(".conversation-menu-button");
    menu.setAttribute("aria-label", `More for “${title}”`);
    menu.title = "More";
    const shown = currentId();
    const current = shown != null && String(shown) === key;
    link.classList.toggle("active", current);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    return li;
  }

  function render() {
    const focused = els.list.contains(document.activeElement) ? document.activeElement : null;
    const groups = groupConversations(conversations, new Date());
    const sections = groups.map((group) => {
      const section = element("section", "conversation-group");
      const heading = element("h2", "conversation-group-title", group.label);
      heading.id = `conversation-group-${group.key}`;
      section.setAttribute("aria-labelledby", heading.id);
      const list = element("ul", "conversation-list");
      list.append(...group.items.map(renderItem));
      section.append(heading, list);
      return section;
    });
    if (!sections.length) sections.push(element("p", "conversation-empty", "No conversations yet"));
    els.list.replaceChildren(...sections);
    for (const [key, li] of items) {
      if (!li.isConnected) items.delete(key);
    }
    // Moving an element blurs it: the person keeps their place.
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus();
  }

  /* Adds or updates a conversation with what is known of it ({id, title, pinned,
   * updated_at}, any of them); a new one without a time is new now. */
  function upsert(conversation) {
    const known = get(conversation.id);
    const fields = Object.fromEntries(Object.entries(conversation).filter(([, v]) => v !== undefined));
    if (!known && !fields.updated_at) fields.updated_at = new Date().toISOString();
    conversations = mergeConversations(conversations, [{ pinned: false, title: "", ...known, ...fields }]);
    render();
  }

  // Something happened in it now: it goes to the top of its group.
  function touch(id) {
    if (get(id)) upsert({ id, updated_at: new Date().toISOString() });
  }

  function remove(id) {
    conversations = conversations.filter((c) => String(c.id) !== String(id));
    render();
  }

  const has = (id) => Boolean(get(id));

  // More of the list, after the last page read.
  async function loadMore() {
    if (loading || nextCursor === null || searching) return;
    loading = true;
    els.more.replaceChildren(element("span", "conversation-loading", "Loading…"));
    const url = nextCursor === undefined
      ? urls.conversations : `${urls.conversations}?after=${encodeURIComponent(nextCursor)}`;
    const result = await getJson(url);
    loading = false;
    if (!result.ok || !Array.isArray(result.data.conversations)) {
      const retry = element("button", "button small", "Load more");
      retry.type = "button";
      retry.addEventListener("click", loadMore);
      els.more.replaceChildren(element("span", "field-error", "Could not load more conversations."), retry);
      return;
    }
    conversations = mergeConversations(conversations, result.data.conversations);
    nextCursor = result.data.next ?? null;
    els.more.replaceChildren();
    render();
    watchEnd();
  }

  // Observing again reports at once whether the end is still in view after a page.
  let observer = null;
  function watchEnd() {
    if (!observer) return;
    observer.unobserve(els.more);
    if (nextCursor === null) observer.disconnect();
    else observer.observe(els.more);
  }
  if (typeof IntersectionObserver === "function") {
    observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadMore();
    }, { root: els.nav, rootMargin: "0px 0px 200px 0px" });
    watchEnd();
  }

  // While a search shows its results, the list (and its end) is out of sight.
  function setSearching(value) {
    searching = value;
    els.list.hidden = value;
    els.more.hidden = value;
    if (!value) watchEnd();
  }

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
    if (event.key === "Escape" && !event.defaultPrevented && document.body.classList.contains("sidebar-open")) {
      event.preventDefault();
      setOpen(false);
      els.toggle.focus();
    }
  });

  render();
  return { upsert, touch, remove, has, get, countReply, showMonth, setSearching, setOpen };
}
