/*
 * Turns a reply's content blocks into elements. Markdown is rendered with marked, always
 * sanitised with DOMPurify before it reaches the DOM (citation numbers are put in after,
 * as elements: citation-view.js), server tools' blocks are drawn by server-tools.js, and
 * code is highlighted with
 * highlight.js: the three vendored libraries, loaded as classic scripts before the
 * modules (globals `marked`, `DOMPurify`, `hljs`). Nothing here runs at import time.
 */

import { runMarkdown } from "./citations.js";
import { placeReferences } from "./citation-view.js";
import { element } from "./dom.js";
import {
  escapeHtml, formatCost, formatServerTools, formatUsage, stopReasonNote, toolInputText,
} from "./format.js";
import { renderServerToolUse, renderToolResult } from "./server-tools.js";

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

function renderToolBox(container, labelText, detailText) {
  container.replaceChildren(element("span", "tool-box-label", labelText), element("code", "", detailText));
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

/* Renders one segment of a reply (reply-view.js) into its container, kept between frames
 * while it streams: a run of text blocks, or one other block. `context`: {blocks (the
 * reply's), numbering (citations.js), streaming, final, idPrefix, index (of the segment's
 * first block), fold: {open, live} for a thinking block or search results}. */
export function renderSegment(container, blocks, context) {
  const block = blocks[0] || { type: "text", text: "" };
  const type = block.type || "text";
  if (container.dataset.type !== type) {
    container.replaceChildren();
    container.dataset.type = type;
  }
  switch (type) {
    case "text": {
      container.className = "block block-text markdown";
      const { markdown, references } = runMarkdown(blocks, context.numbering);
      container.innerHTML = markdownToSafeHtml(markdown);
      enhanceCodeBlocks(container, context.streaming);
      placeReferences(container, references, `${context.idPrefix}-${context.index}`);
      break;
    }
    case "thinking":
    case "redacted_thinking":
      container.className = "block block-thinking";
      renderThinking(container, block, type, context.fold);
      break;
    case "server_tool_use":
      renderServerToolUse(container, block, context.blocks, context.final);
      break;
    case "web_search_tool_result":
    case "web_fetch_tool_result":
      renderToolResult(container, block, context.fold);
      break;
    case "tool_use":
    case "mcp_tool_use":
      container.className = "block block-tool tool-box";
      renderToolBox(container, "Tool call:", `${block.name || "tool"}(${toolInputText(block)})`);
      break;
    default:
      container.className = "block block-other tool-box";
      renderToolBox(container, /_tool_result$/.test(type) ? "Tool result:" : "Content:", type.replace(/_/g, " "));
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
    const text = formatUsage(reply.usage) + formatServerTools(reply.usage) + formatCost(reply.cost, reply.priced);
    meta.append(element("span", "usage", text));
  }
}
