/*
 * Claude Chat: the chat page's client.
 *
 * Talks the WebSocket protocol of docs/protocol.md: sends user_message / stop / open
 * frames and applies the server's frames to the history. Markdown is rendered with
 * marked, always sanitised with DOMPurify before it reaches the DOM, and code is
 * highlighted with highlight.js. No build step: a plain script loaded with `defer`
 * after the three vendored libraries.
 */
(() => {
  "use strict";

  const dataElement = document.getElementById("chat-data");
  if (!dataElement) return;
  const DATA = JSON.parse(dataElement.textContent);
  document.addEventListener("DOMContentLoaded", () => showMonthToDate(DATA.month_to_date));

  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 10000;
  // If the server accepted our message but no reply frame ever comes (e.g. the error
  // went to another tab), unlock the composer rather than leave it stuck forever.
  const AWAITING_REPLY_TIMEOUT_MS = 120000;
  // Errors refusing a user_message; other codes (not_streaming, ...) are about other frames.
  const USER_MESSAGE_ERRORS = new Set([
    "empty_text", "text_too_long", "invalid_field", "not_found", "busy", "not_configured",
  ]);
  const MAX_MESSAGE_CHARS = Number(DATA.max_message_chars) || 100000;
  const conversationUrl = (id) => `/c/${id}/`;
  const settingsUrl = (id) => `/c/${id}/settings/`;

  const byId = (id) => document.getElementById(id);
  const els = {
    layout: byId("chat-layout"),
    history: byId("history"),
    historyInner: byId("history-inner"),
    empty: byId("empty-state"),
    form: byId("composer-form"),
    composer: byId("composer"),
    send: byId("send"),
    stop: byId("stop"),
    alerts: byId("alerts"),
    title: byId("conversation-title"),
    model: byId("model-select"),
    modelError: byId("model-error"),
    settingsError: byId("settings-error"),
    system: byId("system-prompt"),
    systemError: byId("system-prompt-error"),
    systemSave: byId("system-save"),
    settingsStatus: byId("settings-status"),
    conversationList: byId("conversation-list"),
    connection: byId("connection-status"),
    sidebarToggle: byId("sidebar-toggle"),
    sidebarBackdrop: byId("sidebar-backdrop"),
  };

  const state = {
    conversation: DATA.conversation || null, // {id, title, model, system_prompt, max_tokens}
    settingsUrl: DATA.settings_url || null,
    replies: new Map(), // assistant message id (string) -> Reply
    userViews: new Map(), // user message id (string) -> element
    pending: new Map(), // client_id -> {frame, el, status: "pending" | "failed"}
    newChatClientIds: new Set(), // client_ids sent while no conversation existed yet
    lastSeq: new Map(), // message id (string) -> last applied seq
    awaitingReply: false,
    awaitingTimer: 0,
    stopRequested: false,
  };

  /* ------------------------------------------------------------------ */
  /* Markdown rendering: marked -> DOMPurify -> highlight.js             */
  /* ------------------------------------------------------------------ */

  const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]
  ));

  // Images are shown as links: loading remote images from a reply could leak data.
  window.marked.use({
    gfm: true,
    breaks: false,
    renderer: {
      image({ href, text }) {
        const label = text || href || "image";
        return href
          ? `<a href="${escapeHtml(href)}">[image: ${escapeHtml(label)}]</a>`
          : escapeHtml(`[image: ${label}]`);
      },
    },
  });

  const PURIFY_CONFIG = { FORBID_TAGS: ["style", "form"], FORBID_ATTR: ["style"] };
  window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
    if (node.tagName === "IMG") {
      node.removeAttribute("src");
      node.removeAttribute("srcset");
    }
  });

  function markdownToSafeHtml(text) {
    return window.DOMPurify.sanitize(window.marked.parse(text || "", { async: false }), PURIFY_CONFIG);
  }

  // Highlighting the same finished code block on every frame would be wasteful.
  const highlightCache = new Map();
  function highlightCode(code, language, allowAutoDetect) {
    const key = `${language}\u0000${allowAutoDetect ? 1 : 0}\u0000${code}`;
    if (highlightCache.has(key)) return highlightCache.get(key);
    let html = null;
    const hljs = window.hljs;
    try {
      if (language && hljs.getLanguage(language)) {
        html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
      } else if (allowAutoDetect && code.length < 20000) {
        html = hljs.highlightAuto(code).value;
      }
    } catch (e) {
      html = null;
    }
    if (highlightCache.size > 300) highlightCache.delete(highlightCache.keys().next().value);
    highlightCache.set(key, html);
    return html;
  }

  function enhanceCodeBlocks(container, streaming) {
    for (const pre of container.querySelectorAll("pre")) {
      const code = pre.querySelector("code");
      if (!code) continue;
      const match = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
      const language = match ? match[1].toLowerCase() : "";
      // hljs escapes its input: its output is safe markup built from the code's text.
      const html = highlightCode(code.textContent, language, !streaming);
      if (html !== null) {
        code.innerHTML = html;
        code.classList.add("hljs");
      }
      const wrapper = document.createElement("div");
      wrapper.className = "code-block";
      const header = document.createElement("div");
      header.className = "code-header";
      const label = document.createElement("span");
      label.textContent = language || "code";
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy-button";
      copy.textContent = "Copy";
      copy.setAttribute("aria-label", "Copy code");
      header.append(label, copy);
      pre.replaceWith(wrapper);
      wrapper.append(header, pre);
    }
  }

  function renderMarkdownInto(container, text, streaming) {
    container.innerHTML = markdownToSafeHtml(text);
    enhanceCodeBlocks(container, streaming);
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) { /* fall back below */ }
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  els.history.addEventListener("click", async (event) => {
    const button = event.target.closest(".copy-button");
    if (!button) return;
    const code = button.closest(".code-block")?.querySelector("pre code");
    if (!code) return;
    const ok = await copyText(code.textContent);
    button.textContent = ok ? "Copied!" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });

  /* ------------------------------------------------------------------ */
  /* Message elements                                                    */
  /* ------------------------------------------------------------------ */

  function createMessageElement(role) {
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
    el.append(author, body, meta);
    return el;
  }

  const bodyOf = (el) => el.querySelector(".message-body");
  const metaOf = (el) => el.querySelector(".message-meta");

  // Keeps the history ordered by message id; messages without an id (pending) stay last.
  function insertMessageElement(el, id) {
    els.empty.hidden = true;
    const numericId = Number(id);
    const children = els.historyInner.querySelectorAll(".message");
    for (const other of children) {
      const otherId = other.dataset.messageId;
      if (id != null && otherId !== "" && Number(otherId) > numericId) {
        other.before(el);
        return;
      }
      if (id != null && otherId === "") {
        other.before(el);
        return;
      }
    }
    els.historyInner.append(el);
  }

  function textOfContent(content) {
    if (typeof content === "string") return content;
    if (!Array.isArray(content)) return "";
    return content.filter((b) => b && b.type === "text").map((b) => b.text || "").join("\n\n");
  }

  function renderUserMessage(el, message) {
    el.dataset.messageId = String(message.id);
    el.dataset.status = message.status || "complete";
    bodyOf(el).textContent = textOfContent(message.content);
    metaOf(el).replaceChildren();
  }

  function addUserMessage(message) {
    const key = String(message.id);
    if (state.userViews.has(key)) return state.userViews.get(key);
    const el = createMessageElement("user");
    renderUserMessage(el, message);
    state.userViews.set(key, el);
    insertMessageElement(el, message.id);
    return el;
  }

  function renderPendingMeta(pending) {
    const meta = metaOf(pending.el);
    meta.replaceChildren();
    pending.el.dataset.status = pending.status;
    if (pending.status === "pending") {
      const note = document.createElement("span");
      note.className = "pending-note";
      note.textContent = "Sending…";
      meta.append(note);
      return;
    }
    const note = document.createElement("span");
    note.className = "failed-note";
    note.textContent = pending.error ? `Not sent: ${pending.error}` : "Not sent";
    const actions = document.createElement("span");
    actions.className = "message-actions";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "button small retry-button";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => retryPending(pending.frame.client_id));
    const edit = document.createElement("button");
    edit.type = "button";
    edit.className = "button small edit-button";
    edit.textContent = "Edit";
    edit.addEventListener("click", () => editPending(pending.frame.client_id));
    actions.append(retry, edit);
    meta.append(note, actions);
  }

  /* ------------------------------------------------------------------ */
  /* Assistant replies                                                   */
  /* ------------------------------------------------------------------ */

  class Reply {
    constructor(id) {
      this.id = String(id);
      this.blocks = [];
      this.status = "streaming";
      this.error = null;
      this.usage = null;
      this.stopReason = null;
      this.final = false;
      this.el = createMessageElement("assistant");
      this.el.dataset.messageId = this.id;
      this.el.dataset.status = this.status;
      this.blockEls = [];
      this.dirtyBlocks = new Set();
      this.rebuild = true;
      this.hasBeenRendered = false;
    }

    applyMessage(message) {
      this.blocks = Array.isArray(message.content)
        ? message.content.map((b) => ({ ...b }))
        : [{ type: "text", text: textOfContent(message.content) }];
      this.status = message.status || "complete";
      this.error = message.error || null;
      this.usage = message.usage || null;
      this.cost = message.cost != null ? message.cost : null;
      this.priced = message.priced != null ? message.priced : null;
      this.stopReason = message.stop_reason || null;
      this.final = this.status !== "streaming";
      this.rebuild = true;
    }

    block(index, fallbackType) {
      if (!this.blocks[index]) {
        this.blocks[index] = fallbackType === "thinking"
          ? { type: "thinking", thinking: "" }
          : fallbackType === "tool_use" ? { type: "tool_use", name: "tool", input: {}, _partial: "" }
            : { type: "text", text: "" };
        this.rebuild = true;
      }
      return this.blocks[index];
    }

    markDirty(index) {
      this.dirtyBlocks.add(index);
    }

    render() {
      const streaming = !this.final;
      const body = bodyOf(this.el);
      if (this.rebuild) {
        body.replaceChildren();
        this.blockEls = [];
        this.blocks.forEach((block, index) => {
          const blockEl = document.createElement("div");
          this.blockEls[index] = blockEl;
          body.append(blockEl);
          renderBlock(blockEl, block, streaming);
        });
        this.rebuild = false;
      } else {
        for (const index of this.dirtyBlocks) {
          const block = this.blocks[index];
          if (!block) continue;
          let blockEl = this.blockEls[index];
          if (!blockEl) {
            blockEl = document.createElement("div");
            this.blockEls[index] = blockEl;
            body.append(blockEl);
          }
          renderBlock(blockEl, block, streaming);
        }
      }
      this.dirtyBlocks.clear();
      this.el.dataset.status = this.status;
      this.renderMeta();
      this.hasBeenRendered = true;
    }

    renderMeta() {
      const meta = metaOf(this.el);
      meta.replaceChildren();
      if (this.status === "streaming") {
        const hasText = this.blocks.some((b) => (b.text || b.thinking || b._partial));
        if (!hasText) {
          const typing = document.createElement("span");
          typing.className = "typing";
          typing.setAttribute("aria-label", "Claude is replying");
          typing.append(document.createElement("span"), document.createElement("span"), document.createElement("span"));
          meta.append(typing);
        }
      }
      if (this.status === "stopped") {
        const tag = document.createElement("span");
        tag.className = "tag tag-stopped";
        tag.textContent = "Stopped";
        meta.append(tag);
      }
      const stopNote = STOP_REASON_NOTES[this.stopReason];
      if (this.final && this.status === "complete" && stopNote) {
        const tag = document.createElement("span");
        tag.className = "tag tag-stop-reason";
        tag.textContent = stopNote;
        meta.append(tag);
      }
      if (this.error || this.status === "error") {
        const note = document.createElement("div");
        note.className = "error-note";
        note.setAttribute("role", "alert");
        note.textContent = (this.error && (this.error.message || this.error.code)) || "The reply failed.";
        meta.append(note);
      }
      if (this.final && this.usage) {
        const usage = document.createElement("span");
        usage.className = "usage";
        usage.textContent = formatUsage(this.usage) + formatCost(this.cost, this.priced);
        meta.append(usage);
      }
    }
  }

  const STOP_REASON_NOTES = {
    max_tokens: "Cut off: max tokens reached",
    refusal: "Declined",
    pause_turn: "Paused",
  };

  function formatUsage(usage) {
    const n = (v) => Number(v || 0).toLocaleString("en-US");
    let text = `${n(usage.input_tokens)} in · ${n(usage.output_tokens)} out tokens`;
    if (usage.cache_read_input_tokens) text += ` · ${n(usage.cache_read_input_tokens)} cache read`;
    if (usage.cache_creation_input_tokens) text += ` · ${n(usage.cache_creation_input_tokens)} cache write`;
    return text;
  }

  function formatMoney(value) {
    const amount = Number(value);
    if (!Number.isFinite(amount)) return "";
    return "$" + amount.toFixed(amount !== 0 && amount < 0.01 ? 6 : 4);
  }

  // A reply's cost: exact once saved; "no price" (never $0) when its model has none.
  function formatCost(cost, priced) {
    if (priced === false) return " · no price";
    if (cost == null) return "";
    return " · " + formatMoney(cost);
  }

  // A reply that ended in this tab adds its tokens and cost to the month shown (the page
  // brings the exact total from the server when it loads).
  const countedReplies = new Set();
  function addToMonthToDate(message) {
    const month = DATA.month_to_date;
    if (!month || !message || countedReplies.has(message.id)) return;
    countedReplies.add(message.id);
    const usage = message.usage || {};
    month.tokens = Number(month.tokens || 0) + ["input_tokens", "output_tokens",
      "cache_creation_input_tokens", "cache_read_input_tokens"]
      .reduce((sum, name) => sum + Number(usage[name] || 0), 0);
    if (message.cost != null) month.cost = (Number(month.cost) + Number(message.cost)).toFixed(6);
    showMonthToDate(month);
  }

  function showMonthToDate(month) {
    const box = document.getElementById("month-usage");
    if (!box || !month) return;
    let text = `This month: ${Number(month.tokens || 0).toLocaleString("en-US")} tokens · ${formatMoney(month.cost)}`;
    if (month.limit != null) text += ` of ${formatMoney(month.limit)}`;
    box.textContent = text;
    box.classList.toggle("over-budget", month.limit != null && Number(month.cost) >= Number(month.limit));
  }

  // The http(s) links among citations or search results, with their titles.
  function httpLinks(items) {
    return items
      .map((item) => ({ url: item && safeHttpUrl(item.url), title: item && (item.title || item.url) }))
      .filter((item) => item.url);
  }

  // A link out of the app (a citation or a search result): new tab, no referrer.
  function externalLink(url, title) {
    const a = document.createElement("a");
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    a.textContent = title;
    return a;
  }

  function safeHttpUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function renderCitations(container, citations) {
    const links = httpLinks(citations);
    if (!links.length) return;
    const box = document.createElement("div");
    box.className = "citations";
    box.append("Sources: ");
    const seen = new Set();
    for (const link of links) {
      if (seen.has(link.url)) continue;
      seen.add(link.url);
      box.append(externalLink(link.url, link.title));
    }
    container.append(box);
  }

  function toolInputText(block) {
    if (typeof block._partial === "string") return block._partial;
    try {
      return JSON.stringify(block.input ?? {});
    } catch (e) {
      return "";
    }
  }

  function renderToolBox(container, labelText, detailText) {
    container.replaceChildren();
    const label = document.createElement("span");
    label.className = "tool-box-label";
    label.textContent = labelText;
    const code = document.createElement("code");
    code.textContent = detailText;
    container.append(label, code);
  }

  function renderBlock(container, block, streaming) {
    const type = block.type || "text";
    if (container.dataset.type !== type) {
      container.replaceChildren();
      container.dataset.type = type;
    }
    switch (type) {
      case "text":
        container.className = "block block-text markdown";
        renderMarkdownInto(container, block.text || "", streaming);
        if (Array.isArray(block.citations) && block.citations.length) {
          renderCitations(container, block.citations);
        }
        break;
      case "thinking":
      case "redacted_thinking": {
        container.className = "block block-thinking";
        let details = container.querySelector("details.thinking");
        if (!details) {
          details = document.createElement("details");
          details.className = "thinking";
          const summary = document.createElement("summary");
          summary.textContent = type === "redacted_thinking" ? "Thinking (redacted)" : "Thinking…";
          const text = document.createElement("div");
          text.className = "thinking-text";
          details.append(summary, text);
          container.append(details);
        }
        details.querySelector(".thinking-text").textContent =
          type === "redacted_thinking" ? "This thinking was redacted." : (block.thinking || "");
        break;
      }
      case "tool_use":
      case "server_tool_use":
      case "mcp_tool_use":
        container.className = "block block-tool tool-box";
        renderToolBox(container, "Tool call:", `${block.name || "tool"}(${toolInputText(block)})`);
        break;
      default:
        if (/_tool_result$/.test(type)) {
          container.className = "block block-tool-result tool-box";
          renderToolResult(container, block);
        } else {
          container.className = "block block-other tool-box";
          renderToolBox(container, "Content:", type);
        }
    }
  }

  function renderToolResult(container, block) {
    const items = Array.isArray(block.content) ? block.content : [];
    const links = httpLinks(items);
    const name = block.type.replace(/_tool_result$/, "").replace(/_/g, " ");
    let summary = "";
    if (block.content && !Array.isArray(block.content) && block.content.error_code) {
      summary = `error: ${block.content.error_code}`;
    } else if (links.length) {
      summary = `${links.length} result${links.length === 1 ? "" : "s"}`;
    }
    renderToolBox(container, `Tool result (${name}):`, summary);
    if (links.length) {
      const list = document.createElement("ul");
      for (const link of links.slice(0, 10)) {
        const li = document.createElement("li");
        li.append(externalLink(link.url, link.title));
        list.append(li);
      }
      container.append(list);
    }
  }

  function getReply(messageId, create = true) {
    const key = String(messageId);
    let reply = state.replies.get(key);
    if (!reply && create) {
      reply = new Reply(key);
      state.replies.set(key, reply);
      insertMessageElement(reply.el, key);
    }
    return reply;
  }

  /* Re-render streaming replies at most once per animation frame. */
  const dirtyReplies = new Set();
  let frameRequest = 0;

  function scheduleRender(reply) {
    dirtyReplies.add(reply);
    if (!frameRequest) frameRequest = requestAnimationFrame(flushRenders);
  }

  function flushRenders() {
    frameRequest = 0;
    const stick = isNearBottom();
    for (const reply of dirtyReplies) reply.render();
    dirtyReplies.clear();
    if (stick) scrollToBottom();
  }

  function renderNow(reply) {
    const stick = isNearBottom();
    dirtyReplies.delete(reply);
    reply.render();
    if (stick) scrollToBottom();
  }

  function isNearBottom() {
    const h = els.history;
    return h.scrollHeight - h.scrollTop - h.clientHeight < 80;
  }

  function scrollToBottom() {
    els.history.scrollTop = els.history.scrollHeight;
  }

  /* ------------------------------------------------------------------ */
  /* Composer state                                                      */
  /* ------------------------------------------------------------------ */

  function isBusy() {
    for (const pending of state.pending.values()) if (pending.status === "pending") return true;
    if (state.awaitingReply) return true;
    for (const reply of state.replies.values()) if (reply.status === "streaming") return true;
    return false;
  }

  function updateComposerState() {
    const busy = isBusy();
    // readOnly + aria-disabled instead of `disabled` keeps keyboard focus in the composer.
    els.composer.readOnly = busy;
    els.composer.setAttribute("aria-disabled", busy ? "true" : "false");
    els.send.disabled = busy;
    els.stop.hidden = !busy;
    els.form.classList.toggle("is-busy", busy);
    els.history.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function setAwaitingReply(value) {
    state.awaitingReply = value;
    clearTimeout(state.awaitingTimer);
    if (value) {
      state.awaitingTimer = setTimeout(() => {
        state.awaitingReply = false;
        updateComposerState();
      }, AWAITING_REPLY_TIMEOUT_MS);
    }
  }

  function autoGrow() {
    const c = els.composer;
    c.style.height = "auto";
    c.style.height = `${Math.min(c.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
  }

  function countCharacters(text) {
    let n = 0;
    // Count code points, as the server does.
    for (const _ of text) n += 1; // eslint-disable-line no-unused-vars
    return n;
  }

  function randomUuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      try { return window.crypto.randomUUID(); } catch (e) { /* insecure context */ }
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function showAlert(text) {
    const alert = document.createElement("div");
    alert.className = "alert";
    alert.setAttribute("role", "alert");
    const span = document.createElement("span");
    span.className = "alert-text";
    span.textContent = text;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "alert-dismiss";
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.textContent = "×";
    dismiss.addEventListener("click", () => {
      alert.remove();
      els.composer.focus();
    });
    alert.append(span, dismiss);
    els.alerts.append(alert);
    while (els.alerts.children.length > 3) els.alerts.firstElementChild.remove();
  }

  function clearAlerts() {
    els.alerts.replaceChildren();
  }

  function submitComposer() {
    const text = els.composer.value;
    if (!text.trim() || isBusy()) return;
    const length = countCharacters(text);
    if (length > MAX_MESSAGE_CHARS) {
      showAlert(`Your message is too long: ${length.toLocaleString("en-US")} characters, `
        + `the limit is ${MAX_MESSAGE_CHARS.toLocaleString("en-US")}.`);
      return;
    }
    clearAlerts();
    const clientId = randomUuid();
    const frame = {
      type: "user_message",
      conversation_id: state.conversation ? state.conversation.id : null,
      text,
      client_id: clientId,
    };
    if (!state.conversation) {
      frame.model = els.model.value;
      if (els.system.value.trim()) frame.system = els.system.value;
      state.newChatClientIds.add(clientId);
    }
    const el = createMessageElement("user");
    el.dataset.clientId = clientId;
    bodyOf(el).textContent = text;
    const pending = { frame, el, status: "pending", error: null };
    state.pending.set(clientId, pending);
    renderPendingMeta(pending);
    insertMessageElement(el, null);
    sendFrame(frame);
    if (state.conversation) moveSidebarItemToTop(state.conversation.id);

    els.composer.value = "";
    autoGrow();
    els.composer.focus();
    updateComposerState();
    scrollToBottom();
  }

  function retryPending(clientId) {
    const pending = state.pending.get(clientId);
    if (!pending) return;
    if (isBusy()) {
      showAlert("Wait for the current reply to finish before retrying.");
      return;
    }
    pending.status = "pending";
    pending.error = null;
    renderPendingMeta(pending);
    sendFrame(pending.frame);
    updateComposerState();
    els.composer.focus();
  }

  function editPending(clientId) {
    const pending = state.pending.get(clientId);
    if (!pending) return;
    state.pending.delete(clientId);
    pending.el.remove();
    els.composer.value = pending.frame.text;
    autoGrow();
    els.composer.focus();
    if (!els.historyInner.querySelector(".message")) els.empty.hidden = false;
    updateComposerState();
  }

  function requestStop() {
    if (state.conversation) {
      sendFrame({ type: "stop", conversation_id: state.conversation.id });
    } else {
      // The conversation id is not known yet: stop as soon as it is.
      state.stopRequested = true;
    }
  }

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitComposer();
  });

  els.composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submitComposer();
    } else if (event.key === "Escape" && isBusy()) {
      event.preventDefault();
      requestStop();
    }
  });
  els.composer.addEventListener("input", autoGrow);

  els.stop.addEventListener("click", () => {
    requestStop();
    els.composer.focus();
  });

  /* ------------------------------------------------------------------ */
  /* Header, sidebar and settings                                        */
  /* ------------------------------------------------------------------ */

  function setTitle(title) {
    const text = title || "New chat";
    els.title.textContent = text;
    document.title = `${text} · Claude Chat`;
  }

  function ensureModelOption(model) {
    if (!model || Array.from(els.model.options).some((o) => o.value === model)) return;
    const option = document.createElement("option");
    option.value = model;
    option.textContent = model;
    els.model.append(option);
  }

  function applyConversationSettings(conversation) {
    if (conversation.model) {
      ensureModelOption(conversation.model);
      els.model.value = conversation.model;
    }
    if (typeof conversation.system_prompt === "string" && document.activeElement !== els.system) {
      els.system.value = conversation.system_prompt;
    }
  }

  function findSidebarLink(id) {
    return els.conversationList.querySelector(`.conversation-link[data-conversation-id="${CSS.escape(String(id))}"]`);
  }

  function upsertSidebarItem(id, title, { top = false } = {}) {
    let link = findSidebarLink(id);
    if (!link) {
      els.conversationList.querySelector(".conversation-empty")?.remove();
      const li = document.createElement("li");
      link = document.createElement("a");
      link.className = "conversation-link";
      link.href = conversationUrl(id);
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
      els.conversationList.prepend(li);
    } else if (top) {
      els.conversationList.prepend(link.closest("li"));
    }
    if (title !== undefined) {
      link.querySelector(".conversation-title").textContent = title || "New chat";
    }
    const current = state.conversation && String(state.conversation.id) === String(id);
    link.classList.toggle("active", Boolean(current));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    return link;
  }

  function moveSidebarItemToTop(id) {
    const link = findSidebarLink(id);
    if (link) els.conversationList.prepend(link.closest("li"));
  }

  function getCsrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function showFieldError(el, messages) {
    const text = Array.isArray(messages) ? messages.join(" ") : (messages || "");
    el.textContent = text;
    el.hidden = !text;
  }

  function clearSettingsErrors() {
    showFieldError(els.modelError, "");
    showFieldError(els.systemError, "");
    showFieldError(els.settingsError, "");
  }

  let settingsSaving = Promise.resolve();

  function saveSettings() {
    // Serialised so that two quick changes cannot land out of order.
    settingsSaving = settingsSaving.then(doSaveSettings, doSaveSettings);
    return settingsSaving;
  }

  async function doSaveSettings() {
    if (!state.conversation || !state.settingsUrl) return;
    clearSettingsErrors();
    els.settingsStatus.textContent = "Saving…";
    const body = new URLSearchParams({ model: els.model.value, system_prompt: els.system.value });
    let response;
    let data = null;
    try {
      response = await fetch(state.settingsUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRFToken": getCsrfToken(),
          "X-Requested-With": "XMLHttpRequest",
          Accept: "application/json",
        },
        body,
      });
      data = await response.json().catch(() => null);
    } catch (e) {
      els.settingsStatus.textContent = "";
      showFieldError(els.settingsError, "Could not save the settings: the server is unreachable.");
      return;
    }
    if (response.ok && data && data.ok) {
      state.conversation = { ...state.conversation, ...(data.conversation || {}) };
      applyConversationSettings(state.conversation);
      els.settingsStatus.textContent = "Saved";
      setTimeout(() => {
        if (els.settingsStatus.textContent === "Saved") els.settingsStatus.textContent = "";
      }, 2000);
      return;
    }
    els.settingsStatus.textContent = "";
    const errors = (data && data.errors) || {};
    const known = new Set(["model", "system_prompt"]);
    if (errors.model) {
      showFieldError(els.modelError, errors.model);
      ensureModelOption(state.conversation.model);
      els.model.value = state.conversation.model; // the saved model still applies
    }
    if (errors.system_prompt) {
      showFieldError(els.systemError, errors.system_prompt);
      byId("system-prompt-panel").open = true;
    }
    const others = Object.entries(errors).filter(([key]) => !known.has(key)).flatMap(([, v]) => v);
    if (others.length || !Object.keys(errors).length) {
      showFieldError(els.settingsError, others.length ? others : `Could not save the settings (HTTP ${response.status}).`);
    }
  }

  els.model.addEventListener("change", () => {
    if (state.conversation) saveSettings();
  });
  els.systemSave.addEventListener("click", () => saveSettings());

  function setSidebarOpen(open) {
    document.body.classList.toggle("sidebar-open", open);
    els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
    els.sidebarBackdrop.hidden = !open;
  }
  els.sidebarToggle.addEventListener("click", () => {
    setSidebarOpen(!document.body.classList.contains("sidebar-open"));
  });
  els.sidebarBackdrop.addEventListener("click", () => setSidebarOpen(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) {
      setSidebarOpen(false);
      els.sidebarToggle.focus();
    }
  });

  function adoptConversation(id, info) {
    state.conversation = {
      id,
      title: info.title || "",
      model: info.model || els.model.value,
      system_prompt: els.system.value,
      max_tokens: null,
    };
    state.settingsUrl = settingsUrl(id);
    history.replaceState(history.state, "", conversationUrl(id));
    setTitle(state.conversation.title);
    upsertSidebarItem(id, state.conversation.title, { top: true });
    els.systemSave.hidden = false;
    els.settingsStatus.textContent = "";
    // Subscribe explicitly; if a reply is already streaming the server resyncs it.
    sendFrame({ type: "open", conversation_id: id });
    if (state.stopRequested) {
      state.stopRequested = false;
      sendFrame({ type: "stop", conversation_id: id });
    }
  }

  /* ------------------------------------------------------------------ */
  /* Server frames                                                       */
  /* ------------------------------------------------------------------ */

  const isShown = (frame) => Boolean(state.conversation)
    && frame.conversation_id != null
    && String(frame.conversation_id) === String(state.conversation.id);

  function acceptSeq(frame) {
    if (typeof frame.seq !== "number") return true;
    const key = String(frame.message_id);
    const last = state.lastSeq.get(key);
    if (last !== undefined && frame.seq <= last) return false;
    state.lastSeq.set(key, frame.seq);
    return true;
  }

  // A reply frame for the shown conversation, in order, about a reply still streaming.
  function replyFor(frame) {
    if (!isShown(frame) || frame.message_id == null) return null;
    const existing = getReply(frame.message_id, false);
    if (existing && existing.final) return null;
    if (!acceptSeq(frame)) return null;
    return getReply(frame.message_id);
  }

  const handlers = {
    conversation(frame) {
      const id = frame.conversation_id;
      if (!state.conversation && frame.client_id && state.newChatClientIds.has(frame.client_id)) {
        adoptConversation(id, frame);
        return;
      }
      const isNew = !findSidebarLink(id);
      upsertSidebarItem(id, frame.title, { top: isNew });
      if (isShown(frame)) {
        state.conversation.title = frame.title || "";
        setTitle(frame.title);
        if (frame.model) {
          state.conversation.model = frame.model;
          applyConversationSettings({ model: frame.model });
        }
      }
    },

    user_message(frame) {
      const clientId = frame.client_id;
      if (!state.conversation && clientId && state.newChatClientIds.has(clientId) && frame.conversation_id != null) {
        adoptConversation(frame.conversation_id, {});
      }
      if (!isShown(frame) || !frame.message) return;
      const pending = clientId ? state.pending.get(clientId) : null;
      if (pending) {
        state.pending.delete(clientId);
        const key = String(frame.message.id);
        if (state.userViews.has(key)) {
          pending.el.remove(); // already shown, e.g. restored from the page after a reconnect
        } else {
          renderUserMessage(pending.el, frame.message);
          state.userViews.set(key, pending.el);
          pending.el.remove();
          insertMessageElement(pending.el, frame.message.id);
        }
        const replyStarted = Array.from(state.replies.keys()).some((id) => Number(id) > Number(frame.message.id));
        if (!replyStarted) setAwaitingReply(true);
      } else {
        addUserMessage(frame.message);
      }
      updateComposerState();
      if (isNearBottom()) scrollToBottom();
    },

    message_start(frame) {
      const reply = replyFor(frame);
      if (!reply) return;
      reply.status = "streaming";
      if (frame.message && Array.isArray(frame.message.content) && frame.message.content.length) {
        reply.blocks = frame.message.content.map((b) => ({ ...b }));
        reply.rebuild = true;
      }
      setAwaitingReply(false);
      updateComposerState();
      scheduleRender(reply);
    },

    content_block_start(frame) {
      const reply = replyFor(frame);
      if (!reply) return;
      const block = { ...(frame.content_block || { type: "text" }) };
      if (block.type === "text") block.text = block.text || "";
      if (block.type === "thinking") block.thinking = block.thinking || "";
      if (/tool_use$/.test(block.type)) block._partial = "";
      reply.blocks[frame.index] = block;
      reply.markDirty(frame.index);
      setAwaitingReply(false);
      updateComposerState();
      scheduleRender(reply);
    },

    content_block_delta(frame) {
      const reply = replyFor(frame);
      if (!reply) return;
      const delta = frame.delta || {};
      const index = frame.index;
      switch (delta.type) {
        case "text_delta": {
          const block = reply.block(index, "text");
          block.text = (block.text || "") + (delta.text || "");
          break;
        }
        case "thinking_delta": {
          const block = reply.block(index, "thinking");
          block.thinking = (block.thinking || "") + (delta.thinking || "");
          break;
        }
        case "signature_delta": {
          reply.block(index, "thinking").signature = delta.signature;
          return; // nothing visible changes
        }
        case "input_json_delta": {
          const block = reply.block(index, "tool_use");
          block._partial = (block._partial || "") + (delta.partial_json || "");
          break;
        }
        case "citations_delta": {
          const block = reply.block(index, "text");
          block.citations = [...(block.citations || []), delta.citation];
          break;
        }
        default:
          return;
      }
      reply.markDirty(index);
      scheduleRender(reply);
    },

    content_block_stop(frame) {
      const reply = replyFor(frame);
      if (!reply) return;
      const block = reply.blocks[frame.index];
      if (block && typeof block._partial === "string") {
        try {
          block.input = block._partial ? JSON.parse(block._partial) : {};
          delete block._partial;
        } catch (e) { /* keep showing the raw text */ }
        reply.markDirty(frame.index);
        scheduleRender(reply);
      }
    },

    message_delta(frame) {
      const reply = replyFor(frame);
      if (!reply) return;
      if (frame.delta && frame.delta.stop_reason) reply.stopReason = frame.delta.stop_reason;
      if (frame.usage) reply.usage = { ...(reply.usage || {}), ...frame.usage };
    },

    message_stop(frame) {
      addToMonthToDate(frame.message);
      const reply = replyFor(frame);
      if (!reply || !frame.message) return;
      reply.applyMessage(frame.message);
      renderNow(reply);
      setAwaitingReply(false);
      updateComposerState();
      refocusComposer();
    },

    resync(frame) {
      if (!frame.message) return;
      const messageId = frame.message_id != null ? frame.message_id : frame.message.id;
      const fixed = { ...frame, message_id: messageId };
      if (frame.message.role === "user") {
        if (isShown(frame)) addUserMessage(frame.message);
        return;
      }
      const reply = replyFor(fixed);
      if (!reply) return;
      reply.applyMessage(frame.message);
      renderNow(reply);
      setAwaitingReply(false);
      updateComposerState();
    },

    error(frame) {
      const text = frame.message || frame.code || "Something went wrong.";
      if (frame.message_id != null) {
        if (frame.conversation_id != null && !isShown(frame)) return;
        const reply = getReply(frame.message_id);
        if (reply.final) return; // its message_stop already told the whole story
        if (!reply.error) reply.error = { code: frame.code, message: text };
        // Not final: the message_stop that follows carries the saved message.
        if (!reply.final) reply.status = "error";
        renderNow(reply);
        setAwaitingReply(false);
        updateComposerState();
        refocusComposer();
        return;
      }
      let pending = frame.client_id ? state.pending.get(frame.client_id) : null;
      if (!pending && USER_MESSAGE_ERRORS.has(frame.code)) {
        // The server answers frames in order: the refused one is the oldest still pending.
        pending = Array.from(state.pending.values()).find((p) => p.status === "pending") || null;
      }
      if (pending) {
        pending.status = "failed";
        pending.error = text;
        renderPendingMeta(pending);
      }
      if (frame.code === "not_streaming") {
        // We think a reply is streaming but the server does not: it ended unseen.
        const stale = Array.from(state.replies.values()).some((r) => r.status === "streaming");
        if (stale && state.conversation) refreshFromPage(state.conversation.id);
        return;
      }
      setAwaitingReply(false);
      showAlert(text);
      updateComposerState();
    },
  };

  function handleFrame(frame) {
    const handler = Object.prototype.hasOwnProperty.call(handlers, frame.type) ? handlers[frame.type] : null;
    if (!handler) return;
    try {
      handler(frame);
    } catch (e) {
      console.error("chat: failed to apply frame", frame, e); // eslint-disable-line no-console
    }
  }

  function refocusComposer() {
    const active = document.activeElement;
    if (!active || active === document.body || active === els.stop || active === els.send) {
      els.composer.focus();
    }
  }

  /* ------------------------------------------------------------------ */
  /* WebSocket with reconnection                                         */
  /* ------------------------------------------------------------------ */

  const socket = { ws: null, delay: RECONNECT_MIN_MS, timer: 0, everOpened: false, unloading: false };

  function socketUrl() {
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${DATA.ws_path}`;
  }

  function sendFrame(frame) {
    const ws = socket.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false; // pending user messages are resent when the socket opens
  }

  function setConnectionIndicator(reconnecting) {
    els.connection.hidden = !reconnecting;
  }

  function connect() {
    clearTimeout(socket.timer);
    socket.timer = 0;
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket.ws = ws;
    ws.addEventListener("open", () => {
      if (socket.ws !== ws) return;
      const reconnected = socket.everOpened;
      socket.everOpened = true;
      socket.delay = RECONNECT_MIN_MS;
      setConnectionIndicator(false);
      onSocketOpen(reconnected);
    });
    ws.addEventListener("message", (event) => {
      if (socket.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object" && !Array.isArray(frame)) handleFrame(frame);
    });
    ws.addEventListener("close", () => {
      if (socket.ws !== ws) return;
      socket.ws = null;
      if (socket.unloading) return;
      setConnectionIndicator(true);
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (socket.timer) return;
    const delay = socket.delay;
    socket.delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    socket.timer = setTimeout(() => {
      socket.timer = 0;
      connect();
    }, delay);
  }

  function reconnectSoon() {
    if (socket.ws || socket.unloading) return;
    clearTimeout(socket.timer);
    socket.timer = 0;
    socket.delay = RECONNECT_MIN_MS;
    connect();
  }

  function onSocketOpen(reconnected) {
    if (state.conversation) sendFrame({ type: "open", conversation_id: state.conversation.id });
    for (const pending of state.pending.values()) {
      if (pending.status === "pending") sendFrame(pending.frame);
    }
    if (reconnected && state.conversation) refreshFromPage(state.conversation.id);
  }

  // `open` only resyncs a reply that is still streaming: one that ended while we were
  // disconnected is fetched from the conversation page's own chat-data.
  async function refreshFromPage(conversationId) {
    let data;
    try {
      const response = await fetch(conversationUrl(conversationId), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!response.ok || response.redirected) return;
      const html = await response.text();
      const doc = new DOMParser().parseFromString(html, "text/html");
      const script = doc.getElementById("chat-data");
      if (!script) return;
      data = JSON.parse(script.textContent);
    } catch (e) {
      return;
    }
    if (!state.conversation || String(state.conversation.id) !== String(conversationId)) return;
    for (const message of data.messages || []) {
      if (message.role === "user") {
        addUserMessage(message);
        continue;
      }
      if (message.status === "streaming") continue; // the resync after `open` covers it
      const reply = getReply(message.id, false);
      if (reply && reply.final) continue;
      const target = reply || getReply(message.id);
      target.applyMessage(message);
      renderNow(target);
    }
    if (data.conversation && data.conversation.title !== undefined) {
      state.conversation.title = data.conversation.title;
      setTitle(data.conversation.title);
    }
    updateComposerState();
  }

  window.addEventListener("online", reconnectSoon);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectSoon();
  });
  window.addEventListener("pagehide", () => { socket.unloading = true; });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      socket.unloading = false;
      reconnectSoon();
    }
  });

  /* ------------------------------------------------------------------ */
  /* Start                                                               */
  /* ------------------------------------------------------------------ */

  function renderInitialMessages() {
    for (const message of DATA.messages || []) {
      if (message.role === "user") {
        addUserMessage(message);
      } else {
        const reply = getReply(message.id);
        reply.applyMessage(message);
        reply.render();
      }
    }
    if (!(DATA.messages || []).length) els.empty.hidden = false;
  }

  if (state.conversation) {
    applyConversationSettings(state.conversation);
    setTitle(state.conversation.title);
  } else if (DATA.default_model) {
    els.model.value = DATA.default_model;
  }
  renderInitialMessages();
  updateComposerState();
  autoGrow();
  scrollToBottom();
  els.composer.focus();
  connect();
})();
