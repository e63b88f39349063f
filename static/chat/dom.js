/*
 * The one helper every view module uses to make its elements. Nothing here runs at
 * import time, so that the modules that import it still import in Node without a DOM.
 */

// An element with a class (or none) and a text (or none).
export function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}
