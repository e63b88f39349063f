/*
 * Citations on the page: the numbered references ("1", "2") after the cited text, each a
 * button whose popover (on hover, on focus, or pinned by a press) shows the passage cited
 * and its source and is its accessible description; and the Sources list under a reply.
 * The numbers and words come from citations.js; every string from the model or the web
 * is set as text, links only as checked http(s) addresses.
 */

import { hostOf, MARK_PATTERN, sourceLine } from "./citations.js";
import { element } from "./dom.js";
import { externalLink } from "./server-tools.js";

function sourceElement(source) {
  if (source.kind === "web") {
    const span = element("span", "cite-source");
    span.append(externalLink(source.url, source.title), element("span", "source-host", hostOf(source.url)));
    return span;
  }
  return element("span", "cite-source", source.title); // the passage says its page
}

// One reference: its button and its popover (`id` names the popover).
function referenceElement(ref, id) {
  const wrapper = element("span", "cite");
  const button = element("button", "cite-ref", String(ref.number));
  button.type = "button";
  button.setAttribute("aria-label", `Source ${ref.number}`);
  button.setAttribute("aria-describedby", id);
  button.setAttribute("aria-expanded", "false");
  const tip = element("span", "cite-tip");
  tip.id = id;
  for (const passage of ref.passages) {
    if (!passage.text) continue;
    const quote = element("span", "cite-quote", `“${passage.text}”`);
    if (passage.where) quote.append(element("span", "cite-where", ` (${passage.where})`));
    tip.append(quote);
  }
  tip.append(sourceElement(ref.source));
  wrapper.append(button, tip);
  return wrapper;
}

/* Puts the references where runMarkdown left its marks in the rendered `container`;
 * `idPrefix` keeps the popovers' ids unique in the page. */
export function placeReferences(container, references, idPrefix) {
  if (!references.length) return;
  const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
  const marked = [];
  while (walker.nextNode()) {
    if (walker.currentNode.nodeValue.includes("\uE000")) marked.push(walker.currentNode);
  }
  for (const node of marked) {
    const pieces = [];
    let last = 0;
    for (const match of node.nodeValue.matchAll(MARK_PATTERN)) {
      pieces.push(node.nodeValue.slice(last, match.index));
      const group = element("span", "cite-group");
      const k = Number(match[1]);
      for (const ref of references[k] || []) group.append(referenceElement(ref, `${idPrefix}-${k}-${ref.number}`));
      pieces.push(group);
      last = match.index + match[0].length;
    }
    pieces.push(node.nodeValue.slice(last));
    node.replaceWith(...pieces.filter((piece) => piece !== ""));
  }
}

/* The Sources list under a reply (`sources`: numberCitations(...).sources); empty: none. */
export function renderSources(el, sources) {
  el.hidden = !sources.length;
  if (!sources.length) {
    el.replaceChildren();
    return;
  }
  const list = element("ol", "reply-sources-list");
  for (const source of sources) {
    const li = element("li", "reply-source");
    li.append(element("span", "source-number", String(source.number)));
    if (source.kind === "web") {
      li.append(externalLink(source.url, source.title, "source-title"), element("span", "source-host", hostOf(source.url)));
    } else {
      li.append(element("span", "source-title", sourceLine(source)));
    }
    list.append(li);
  }
  el.replaceChildren(element("p", "reply-sources-title", "Sources"), list);
}

// A popover that would leave the history is moved left, or above its number, to fit.
function fit(cite, bounds) {
  const tip = cite.querySelector(".cite-tip");
  if (!tip) return;
  tip.style.left = "";
  cite.classList.remove("is-above");
  const box = tip.getBoundingClientRect();
  const area = bounds.getBoundingClientRect();
  const overflow = box.right - (area.right - 8);
  if (overflow > 0) tip.style.left = `${Math.max(-box.left + 8, -overflow)}px`;
  const above = cite.getBoundingClientRect().top - box.height - 8;
  if (box.bottom > area.bottom - 8 && above > area.top) cite.classList.add("is-above");
}

/* The popovers' behaviour, for every reply inside `root`: a press pins one open (and
 * closes the others) until the focus leaves it; Escape hides it until the pointer or the
 * focus leaves. */
export function handleCitationPopovers(root) {
  const close = (cite) => {
    cite.classList.remove("is-open");
    cite.querySelector(".cite-ref")?.setAttribute("aria-expanded", "false");
  };
  root.addEventListener("click", (event) => {
    const button = event.target.closest(".cite-ref");
    for (const open of root.querySelectorAll(".cite.is-open")) {
      if (!button || open !== button.parentElement) close(open);
    }
    if (!button) return;
    const cite = button.parentElement;
    const opening = !cite.classList.contains("is-open");
    cite.classList.toggle("is-open", opening);
    cite.classList.remove("is-dismissed");
    button.setAttribute("aria-expanded", String(opening));
    if (opening) fit(cite, root);
  });
  root.addEventListener("keydown", (event) => {
    const cite = event.key === "Escape" && event.target.closest(".cite");
    if (!cite) return;
    event.preventDefault();
    close(cite);
    cite.classList.add("is-dismissed");
    cite.querySelector(".cite-ref").focus();
  });
  for (const type of ["mouseover", "focusin"]) {
    root.addEventListener(type, (event) => {
      const cite = event.target.closest && event.target.closest(".cite");
      if (cite) fit(cite, root);
    });
  }
  // Leaving a reference ends Escape's hiding; the focus leaving it also unpins it.
  for (const type of ["mouseout", "focusout"]) {
    root.addEventListener(type, (event) => {
      const cite = event.target.closest && event.target.closest(".cite");
      if (!cite || cite.contains(event.relatedTarget)) return;
      cite.classList.remove("is-dismissed");
      if (type === "focusout") close(cite);
    });
  }
}
