/*
 * The server tools' blocks in a reply (docs/protocol.md, "Message object"): a call
 * (`server_tool_use`: "Searched the web for “…”", "Read <url>"), shown as its input
 * streams, and its result (`web_search_tool_result`: the pages found, folded;
 * `web_fetch_tool_result`: the page read), or the error the tool met, in words. What is
 * written is worked out by the pure functions (tests/js/server-tools.test.mjs); every
 * string from the model or the web reaches the page as text or as a checked http(s) link.
 */

import { hostOf } from "./citations.js";
import { element } from "./dom.js";
import { safeHttpUrl } from "./format.js";
import { icon } from "./icons.js";

// The query or address a call's input holds, also while its JSON is still streaming.
export function toolInputField(block, field) {
  if (block.input && typeof block.input[field] === "string" && typeof block._partial !== "string") {
    return block.input[field];
  }
  const partial = typeof block._partial === "string" ? block._partial : "";
  const match = new RegExp(`"${field}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)`).exec(partial);
  if (!match) return "";
  const raw = match[1].replace(/\\$/, "");
  try {
    return JSON.parse(`"${raw}"`);
  } catch (e) {
    return raw;
  }
}

/* What a server tool call says: {icon, text, url, pending}. `done`: its result has come
 * (or the reply has ended); until then it is written in the present. */
export function serverToolSummary(block, done) {
  if (block.name === "web_search") {
    const query = toolInputField(block, "query");
    if (!query) return { icon: "search", text: done ? "Searched the web" : "Searching the web…", url: null, pending: !done };
    return {
      icon: "search",
      text: done ? `Searched the web for “${query}”` : `Searching the web for “${query}”…`,
      url: null,
      pending: !done,
    };
  }
  if (block.name === "web_fetch") {
    const url = toolInputField(block, "url");
    return { icon: "globe", text: done ? "Read" : "Reading", url, pending: !done };
  }
  return { icon: "globe", text: done ? `Used ${block.name || "a tool"}` : `Using ${block.name || "a tool"}…`, url: null, pending: !done };
}

const ERRORS = {
  too_many_requests: "too many requests for now",
  invalid_input: "the request was not valid",
  invalid_tool_input: "the request was not valid",
  max_uses_exceeded: "the reply used every search it may",
  query_too_long: "the query was too long",
  unavailable: "the service is unavailable",
  url_too_long: "the address is too long",
  url_not_allowed: "the address is not allowed",
  url_not_accessible: "the page could not be reached",
  unsupported_content_type: "that kind of page cannot be read",
};

export const toolErrorText = (code) => (
  Object.prototype.hasOwnProperty.call(ERRORS, code) ? ERRORS[code] : String(code || "an unknown error")
);

/* A result block as a list: {items: [{url, title, host, age}], error} (`error`: the
 * reason, in words, when the tool failed). Links that are not http(s) are left out. */
export function toolResult(block) {
  const content = block.content;
  if (content && !Array.isArray(content) && content.error_code !== undefined) {
    return { items: [], error: toolErrorText(content.error_code) };
  }
  let raw = [];
  if (Array.isArray(content)) raw = content;
  else if (content && content.url) raw = [{ url: content.url, title: content.content && content.content.title }];
  const items = [];
  for (const item of raw) {
    const url = item && safeHttpUrl(item.url, "http://invalid/");
    const host = url ? hostOf(url) : "";
    if (!host) continue;
    items.push({ url, title: item.title || host, host, age: item.page_age || "" });
  }
  return { items, error: null };
}

// "3 results from example.com, wikipedia.org and 1 more"
export function resultsSummary(items) {
  if (!items.length) return "No results";
  const hosts = [...new Set(items.map((item) => item.host))];
  const named = hosts.slice(0, 2).join(", ");
  const more = hosts.length > 2 ? ` and ${hosts.length - 2} more` : "";
  return `${items.length} result${items.length === 1 ? "" : "s"} from ${named}${more}`;
}

// A link out of the app: a new tab, no referrer, no opener.
export function externalLink(url, text, className = "") {
  const a = element("a", className, text);
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

/* Draws a server tool call; `blocks` are the reply's, to see whether its result has come. */
export function renderServerToolUse(container, block, blocks, final) {
  const done = final || blocks.some((b) => b && b.tool_use_id != null && b.tool_use_id === block.id);
  const summary = serverToolSummary(block, done);
  container.className = `block block-server-tool server-tool${summary.pending ? " is-pending" : ""}`;
  const text = element("span", "server-tool-text", summary.text);
  const url = summary.url && safeHttpUrl(summary.url, "http://invalid/");
  if (url && hostOf(url)) text.append(" ", externalLink(url, summary.url));
  else if (summary.url) text.append(` ${summary.url}`);
  container.replaceChildren(icon(summary.icon), text);
}

/* Draws a tool's result: the pages found in a fold (`open`: how the person left it), the
 * page read, or the error. */
export function renderToolResult(container, block, { open = false } = {}) {
  const result = toolResult(block);
  container.className = "block block-tool-result server-tool-result";
  if (result.error) {
    const what = block.type === "web_search_tool_result" ? "The web search failed" : "The page could not be read";
    const note = element("p", "server-tool-error");
    note.append(icon("alert"), element("span", "", `${what}: ${result.error}.`));
    container.replaceChildren(note);
    return;
  }
  const list = element("ol", "web-results");
  for (const item of result.items) {
    const li = element("li", "web-result");
    li.append(externalLink(item.url, item.title, "web-result-title"), element("span", "web-result-host", item.host));
    if (item.age) li.append(element("span", "web-result-age", item.age));
    list.append(li);
  }
  if (block.type !== "web_search_tool_result") {
    container.replaceChildren(list);
    return;
  }
  const details = element("details", "web-results-fold");
  details.open = open;
  details.append(element("summary", "web-results-summary", resultsSummary(result.items)), list);
  container.replaceChildren(details);
}
