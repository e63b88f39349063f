/*
 * The page's keyboard shortcuts, and the dialog that lists them: Ctrl/⌘+Shift+O opens a
 * new chat, Shift+Escape goes to the composer, Escape stops a streaming reply (unless
 * something nearer, a menu, an editor or a dialog, used it first), and ↑ in an empty
 * composer edits the last message (composer.js).
 */

const isMac = () => /Mac|iPhone|iPad/.test(globalThis.navigator?.platform || "");

/* `isBusy()`: a reply streams or is on its way; `stop()` asks it to stop. */
export function createShortcuts({ els, newChatUrl, isBusy, stop }) {
  const dialogOpen = () => Boolean(document.querySelector("dialog[open]"));

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && event.shiftKey && !event.altKey && key.toLowerCase() === "o") {
      event.preventDefault();
      window.location.assign(newChatUrl);
    } else if (key === "Escape" && event.shiftKey && !dialogOpen()) {
      event.preventDefault();
      els.composer.focus();
    } else if (key === "Escape" && !event.shiftKey && !dialogOpen() && isBusy()) {
      event.preventDefault();
      stop();
    }
  });

  if (isMac()) {
    for (const kbd of els.dialog.querySelectorAll("kbd[data-mac]")) kbd.textContent = kbd.dataset.mac;
  }
  els.button.addEventListener("click", () => els.dialog.showModal());
  // The dialog gives focus back to the element that opened it when it closes.
}
