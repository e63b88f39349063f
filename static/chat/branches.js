/*
 * Messages form a tree (docs/protocol.md): what a tab shows is one branch of it. This is
 * the pure part of showing branches: which shown messages a `branch` frame keeps, drops and
 * adds, what is known of each message's versions, and what its "‹ 2 / 3 ›" says. No DOM,
 * so that node's test runner checks it (tests/js/branches.test.mjs).
 */

/* What a tab does with a new branch (`messages`, first message first) while it shows the
 * messages `shownIds`: `remove` the ids no longer on it, `keep` those still on it (their
 * elements and reply states stay: a streaming reply goes on receiving frames), `add` the
 * messages not shown yet. */
export function planBranch(shownIds, messages) {
  const onBranch = new Set(messages.map((m) => String(m.id)));
  const shown = new Set(shownIds.map(String));
  return {
    remove: [...shown].filter((id) => !onBranch.has(id)),
    keep: messages.filter((m) => shown.has(String(m.id))).map((m) => String(m.id)),
    add: messages.filter((m) => !shown.has(String(m.id))),
  };
}

const siblingsOf = (message) => (
  Array.isArray(message.sibling_ids) && message.sibling_ids.length ? message.sibling_ids : [message.id]
);

/* What the tab knows of a message besides its content: its versions and the owner's
 * feedback. A `complete` message object (the page's data, a branch frame, a reload) is
 * the whole truth; a reply's end (message_stop, resync) may know less, so it only adds
 * versions (they are never deleted) and leaves the feedback as it was. */
export function messageInfo(previous, message, { complete = true } = {}) {
  let siblings = siblingsOf(message).map(Number);
  if (!complete && previous) {
    siblings = [...new Set([...previous.sibling_ids, ...siblings])].sort((a, b) => a - b);
  }
  return {
    id: Number(message.id),
    role: message.role || (previous && previous.role) || null,
    sibling_ids: siblings,
    feedback: complete ? (message.feedback || null) : ((previous && previous.feedback) || null),
  };
}

/* "‹ 2 / 3 ›" for a message with versions: its place among them, the text, and the
 * versions either side (null at an end); null when it is the only version. */
export function versionIndicator(info) {
  const ids = info.sibling_ids || [];
  const index = ids.indexOf(Number(info.id));
  if (ids.length < 2 || index < 0) return null;
  return {
    position: index + 1,
    total: ids.length,
    text: `${index + 1} / ${ids.length}`,
    previousId: index > 0 ? ids[index - 1] : null,
    nextId: index < ids.length - 1 ? ids[index + 1] : null,
  };
}

/* The user message the ↑ key edits: the last stored one shown (`shown` in order, each
 * {id, role}), or null. */
export function lastUserMessageId(shown) {
  for (let i = shown.length - 1; i >= 0; i -= 1) {
    if (shown[i].role === "user" && shown[i].id != null && shown[i].id !== "") return shown[i].id;
  }
  return null;
}
