/*
 * The sidebar's search box: while a query is typed its results (title and a snippet with
 * the matches marked) replace the conversation list; Escape or an empty box brings the
 * list back. Each query waits for a pause in the typing, and a newer one cancels the
 * request of the one before.
 */

import { snippetParts } from "./conversations.js";
import { element } from "./dom.js";
import { failureText, getJson } from "./http.js";
import { titleText } from "./sidebar.js";

const DEBOUNCE_MS = 250;

// The snippet's text as text nodes and <mark> elements: nothing in it is parsed as HTML.
export function snippetElement(snippet) {
  const el = element("span", "search-snippet");
  for (const part of snippetParts(snippet)) {
    el.append(part.marked ? element("mark", "", part.text) : part.text);
  }
  return el;
}

export function createSearch({ els, urls, sidebar }) {
  let timer = 0;
  let controller = null;

  function showStatus(text, { error = false } = {}) {
    els.status.textContent = text;
    els.status.hidden = !text;
    els.status.classList.toggle("field-error", error);
  }

  function clear() {
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = null;
    els.results.replaceChildren();
    els.results.hidden = true;
    showStatus("");
    sidebar.setSearching(false);
  }

  function showResults(results) {
    const list = element("ul", "search-result-list");
    for (const result of results) {
      const link = element("a", "search-result");
      link.href = urls.conversation(result.conversation_id);
      link.append(element("span", "conversation-title", titleText(result)), snippetElement(result.snippet));
      const li = element("li");
      li.append(link);
      list.append(li);
    }
    els.results.replaceChildren(list);
    els.results.hidden = false;
    showStatus(results.length === 1 ? "1 conversation found" : `${results.length || "No"} conversations found`);
  }

  async function run(query) {
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    let result;
    try {
      result = await getJson(`${urls.search}?q=${encodeURIComponent(query)}`, { signal });
    } catch (e) {
      return; // a newer query took over
    }
    if (signal.aborted) return;
    controller = null;
    if (result.ok && Array.isArray(result.data.results)) {
      showResults(result.data.results);
      return;
    }
    els.results.replaceChildren();
    els.results.hidden = false;
    showStatus(failureText(result, "search"), { error: true });
  }

  els.input.addEventListener("input", () => {
    const query = els.input.value.trim();
    clearTimeout(timer);
    if (!query) {
      clear();
      return;
    }
    sidebar.setSearching(true);
    timer = setTimeout(() => run(query), DEBOUNCE_MS);
  });
  els.input.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && els.input.value) {
      event.preventDefault();
      els.input.value = "";
      clear();
    } else if (event.key === "ArrowDown" && !els.results.hidden) {
      const first = els.results.querySelector("a");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });
  // type="search" has its own clear button; it empties the box with an `input` event too.

  if (!urls.search) els.form.hidden = true;
  return { clear };
}
