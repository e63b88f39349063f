/*
 * The sidebar's list as data: conversations grouped by the day of their last activity,
 * pages of the list merged without duplicates, a search snippet read as text and marks.
 * Pure (no DOM, no clock of its own: "now" is given), so that node's test runner checks
 * it (tests/js/conversations.test.mjs).
 */

const DAY_MS = 24 * 60 * 60 * 1000;

// Local calendar days from `date` to `now` (0: the same day), whatever the time of day or
// a daylight-saving change in between.
function daysBefore(now, date) {
  const day = (d) => Date.UTC(d.getFullYear(), d.getMonth(), d.getDate());
  return Math.round((day(now) - day(date)) / DAY_MS);
}

const monthLabel = (date) => date.toLocaleDateString("en-US", { month: "long", year: "numeric" });

/* The group a conversation last active at `date` falls in, seen at `now`: its key (groups
 * with the same key are one) and its heading. */
export function dateGroup(date, now) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return { key: "older", label: "Older" };
  const days = daysBefore(now, date);
  if (days <= 0) return { key: "today", label: "Today" }; // a clock ahead of ours counts as today
  if (days === 1) return { key: "yesterday", label: "Yesterday" };
  if (days <= 7) return { key: "week", label: "Previous 7 days" };
  if (days <= 30) return { key: "month", label: "Previous 30 days" };
  return { key: `${date.getFullYear()}-${date.getMonth() + 1}`, label: monthLabel(date) };
}

const time = (conversation) => {
  const t = Date.parse(conversation.updated_at);
  return Number.isNaN(t) ? -Infinity : t;
};

// Newest activity first; the higher id first when two are equal, as the server orders them.
export function byRecentActivity(a, b) {
  return time(b) - time(a) || Number(b.id) - Number(a.id);
}

/* The conversations in the sidebar's groups: the pinned ones first under "Pinned", then
 * Today, Yesterday, Previous 7 days, Previous 30 days, then one group a month, newest
 * first. Each group: {key, label, items}. */
export function groupConversations(conversations, now) {
  const sorted = [...conversations].sort(byRecentActivity);
  const groups = [];
  const byKey = new Map();
  const add = ({ key, label }, conversation) => {
    if (!byKey.has(key)) {
      const group = { key, label, items: [] };
      byKey.set(key, group);
      groups.push(group);
    }
    byKey.get(key).items.push(conversation);
  };
  for (const conversation of sorted.filter((c) => c.pinned)) {
    add({ key: "pinned", label: "Pinned" }, conversation);
  }
  for (const conversation of sorted.filter((c) => !c.pinned)) {
    const updated = conversation.updated_at ? new Date(conversation.updated_at) : null;
    add(dateGroup(updated, now), conversation);
  }
  return groups;
}

/* The list with a page of conversations merged in: one entry an id (the page's copy wins,
 * being newer), order left to groupConversations. */
export function mergeConversations(list, page) {
  const merged = new Map(list.map((c) => [String(c.id), c]));
  for (const conversation of page) {
    const key = String(conversation.id);
    merged.set(key, { ...merged.get(key), ...conversation });
  }
  return Array.from(merged.values());
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return Object.prototype.hasOwnProperty.call(ENTITIES, name.toLowerCase()) ? ENTITIES[name.toLowerCase()] : whole;
  });
}

/* A search result's snippet (HTML-escaped text whose matches are wrapped in <mark>) as
 * parts to build text nodes from: [{text, marked}]. Any other tag is not markup here: it
 * can only be text, so it stays text. */
export function snippetParts(snippet) {
  const parts = [];
  let marked = false;
  for (const piece of String(snippet || "").split(/(<\/?mark>)/i)) {
    const tag = piece.toLowerCase();
    if (tag === "<mark>") marked = true;
    else if (tag === "</mark>") marked = false;
    else if (piece) parts.push({ text: unescapeHtml(piece), marked });
  }
  return parts;
}
