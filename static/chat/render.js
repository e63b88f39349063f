/*
 * Turns a reply's content blocks into elements. Markdown is rendered with marked, always
 * sanitised with DOMPurify before it reaches the DOM, and code is highlighted with
 * highlight.js: the three vendored libraries, loaded as classic scripts before the
 * modules (globals `marked`, `DOMPurify`, `hljs`). Nothing here runs at import time.
 */

import { element } from "./dom.js";
import {
  escapeHtml, formatCost, formatUsage, httpLinks, stopReasonNote, toolInputText,
} from "./format.js";

const PURIFY_CONFIG = { FORBID_TAGS: ["style", "form"], FORBID_ATTR: ["style"] };
let librariesConfigured = false;

function configureLibraries() {
  if (librariesConfigured) return;
  librariesConfigured = true;
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
}

function markdownToSafeHtml(text) {
  configureLibraries();
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
    const wrapper = element("div", "code-block");
    const header = element("div", "code-header");
    const copy = element("button", "copy-button", "Copy");
    copy.type = "button";
    copy.setAttribute("aria-label", "Copy code");
    header.append(element("span", "", language || "code"), copy);
    pre.replaceWith(wrapper);
    wrapper.append(header, pre);
  }
}

export async function copyText(text) {
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

// The code blocks' Copy buttons, for every reply inside `root`.
export function handleCopyButtons(root) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest(".copy-button");
    if (!button) return;
    const code = button.closest(".code-block")?.querySelector("pre code");
    if (!code) return;
    const ok = await copyText(code.textContent);
    button.textContent = ok ? "Copied!" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
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

function renderCitations(container, citations) {
  const links = httpLinks(citations);
  if (!links.length) return;
  const box = element("div", "citations");
  box.append("Sources: ");
  const seen = new Set();
  for (const link of links) {
    if (seen.has(link.url)) continue;
    seen.add(link.url);
    box.append(externalLink(link.url, link.title));
  }
  container.append(box);
}

function renderToolBox(container, labelText, detailText) {
  container.replaceChildren(element("span", "tool-box-label", labelText), element("code", "", detailText));
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

/* A thinking block, folded or not. `live`: it is being written. `open`: how the reply wants
 * it; it is applied only when that changes, so that a render never undoes what the person
 * chose in between (the reply's view keeps their choice and asks for it). */
function renderThinking(container, block, type, { open = false, live = false } = {}) {
  let details = container.querySelector("details.thinking");
  if (!details) {
    details = element("details", "thinking");
    details.append(element("summary", "thinking-summary"), element("div", "thinking-text"));
    container.append(details);
  }
  const redacted = type === "redacted_thinking";
  let summary = live ? "Thinking…" : "Thinking";
  if (redacted) summary = "Thinking (redacted)";
  details.querySelector("summary").textContent = summary;
  details.querySelector(".thinking-text").textContent = redacted ? "This thinking was redacted." : (block.thinking || "");
  if (details.dataset.wanted !== String(open)) {
    details.open = open;
    details.dataset.wanted = String(open);
  }
}

/* Renders one content block into its container (kept between frames while it streams);
 * `thinking`: {open, live} for a thinking block. */
export function renderBlock(container, block, streaming, thinking) {
  const type = block.type || "text";
  if (container.dataset.type !== type) {
    container.replaceChildren();
    container.dataset.type = type;
  }
  switch (type) {
    case "text":
      container.className = "block block-text markdown";
      container.innerHTML = markdownToSafeHtml(block.text || "");
      enhanceCodeBlocks(container, streaming);
      if (Array.isArray(block.citations) && block.citations.length) {
        renderCitations(container, block.citations);
      }
      break;
    case "thinking":
    case "redacted_thinking":
      container.className = "block block-thinking";
      renderThinking(container, block, type, thinking);
      break;
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

// Under a reply: typing dots, how it ended, what went wrong, what it used and cost.
export function renderReplyMeta(meta, reply) {
  meta.replaceChildren();
  if (reply.status === "streaming") {
    const hasText = reply.blocks.some((b) => (b.text || b.thinking || b._partial));
    if (!hasText) {
      const typing = element("span", "typing");
      typing.setAttribute("aria-label", "Claude is replying");
      typing.append(element("span"), element("span"), element("span"));
      meta.append(typing);
    }
  }
  if (reply.status === "stopped") meta.append(element("span", "tag tag-stopped", "Stopped"));
  const stopNote = stopReasonNote(reply);
  if (stopNote && stopNote.kind === "refusal") {
    const box = element("div", "refusal-note");
    box.append(element("strong", "refusal-label", "Declined"), element("span", "", stopNote.text));
    meta.append(box);
  } else if (stopNote) {
    meta.append(element("span", `stop-note stop-note-${stopNote.kind}`, stopNote.text));
  }
  if (reply.error || reply.status === "error") {
    const note = element("div", "error-note",
      (reply.error && (reply.error.message || reply.error.code)) || "The reply failed.");
    note.setAttribute("role", "alert");
    meta.append(note);
  }
  if (reply.final && reply.usage) {
    meta.append(element("span", "usage", formatUsage(reply.usage) + formatCost(reply.cost, reply.priced)));
  }
}
