/*
 * The files attached in a composer or an editor: an "Attach files" button and its hidden
 * file input, files pasted into the text box, and files dropped on the chat (watchDrops
 * shows where they may go). Each file uploads at once (POST to the page's attachments URL)
 * and shows as a chip (attachment-view.js) until it is removed or sent; a kind the model
 * cannot read is warned about before it goes. The state is attachments.js's.
 */

import { ACCEPT, AttachmentList, unreadableReason, uploadErrorText } from "./attachments.js";
import { chipElement } from "./attachment-view.js";
import { postFile } from "./http.js";
import { icon } from "./icons.js";

let trays = 0;

/* `els`: {list (ul of chips), status (role=status), button, input, text (the text box,
 * for pastes and the focus after a removal)}; `model()` is the model shown; `onChange()`
 * runs whenever the files change. Without an upload URL the button stays hidden. */
export function createAttachmentTray({ els, uploadUrl, max, model, onChange = () => {} }) {
  const files = new AttachmentList(max);
  const uploads = new Map(); // item key -> AbortController
  const previews = new Map(); // item key -> object URL of an image, while it is shown
  const chips = new Map(); // item key -> chip element
  const idPrefix = `attachment-${(trays += 1)}`;
  let notice = "";
  const enabled = Boolean(uploadUrl);

  els.button.hidden = !enabled;
  if (enabled && !els.button.querySelector(".icon")) els.button.prepend(icon("paperclip"));
  els.input.accept = ACCEPT;
  els.input.multiple = true;

  // Said in the status line (a live region, so always in the page): what holds Send back.
  function showStatus() {
    const text = [notice, files.holdReason()].filter(Boolean).join(" ");
    if (els.status.textContent !== text) els.status.textContent = text;
  }

  function chipFor(item) {
    const warning = unreadableReason(model(), item.kind);
    const chip = chipElement(item, {
      preview: previews.get(item.key) || "", warning, onRemove: () => remove(item.key), idPrefix,
    });
    chip.dataset.warning = warning;
    return chip;
  }

  // Another model is shown: the chips whose warning changes are drawn again.
  function modelChanged() {
    for (const item of files.items) {
      if (chips.get(item.key)?.dataset.warning !== unreadableReason(model(), item.kind)) draw(item);
    }
    onChange();
  }

  // Draws the chip of `item` again (or every chip), keeping the others as they are.
  function draw(item = null) {
    if (item) {
      const chip = chipFor(item);
      chips.get(item.key)?.replaceWith(chip);
      chips.set(item.key, chip);
    } else {
      chips.clear();
      for (const each of files.items) chips.set(each.key, chipFor(each));
      els.list.replaceChildren(...chips.values());
    }
    els.list.hidden = !files.items.length;
    showStatus();
    onChange();
  }

  async function upload(item, file) {
    const controller = new AbortController();
    uploads.set(item.key, controller);
    let result;
    try {
      result = await postFile(uploadUrl, file, { signal: controller.signal });
    } catch (e) {
      return; // removed while it uploaded
    } finally {
      uploads.delete(item.key);
    }
    if (!files.get(item.key)) return;
    if (result.ok && result.data && result.data.id != null) files.uploaded(item.key, result.data);
    else files.failed(item.key, uploadErrorText(result));
    draw(files.get(item.key));
  }

  function add(fileList) {
    const list = Array.from(fileList || []);
    if (!enabled || !list.length) return;
    const refused = [];
    for (const file of list) {
      const [item] = files.add([file]).added;
      if (!item) {
        refused.push(file.name);
        continue;
      }
      if (item.kind === "image" && typeof URL.createObjectURL === "function") {
        previews.set(item.key, URL.createObjectURL(file));
      }
      const chip = chipFor(item);
      chips.set(item.key, chip);
      els.list.append(chip);
      if (item.state === "uploading") upload(item, file);
    }
    notice = refused.length
      ? `At most ${max} files per message: ${refused.join(", ")} ${refused.length === 1 ? "was" : "were"} not attached.`
      : "";
    els.list.hidden = !files.items.length;
    showStatus();
    onChange();
  }

  function forget(key) {
    uploads.get(key)?.abort();
    if (previews.has(key)) URL.revokeObjectURL(previews.get(key));
    previews.delete(key);
    chips.get(key)?.remove();
    chips.delete(key);
    files.remove(key);
  }

  // The focus goes to the next chip's Remove button, else the previous one's, else the text.
  function remove(key) {
    const keys = files.items.map((item) => item.key);
    const at = keys.indexOf(key);
    forget(key);
    notice = "";
    const next = keys[at + 1] ?? keys[at - 1];
    (next !== undefined ? chips.get(next)?.querySelector(".chip-remove") : els.text)?.focus();
    els.list.hidden = !files.items.length;
    showStatus();
    onChange();
  }

  function clear() {
    for (const item of [...files.items]) forget(item.key);
    notice = "";
    draw();
  }

  // Stored attachments (an edited message's own, or a refused message's) shown again.
  function keep(attachments) {
    files.keep(attachments);
    draw();
  }

  els.button.addEventListener("click", () => els.input.click());
  els.input.addEventListener("change", () => {
    add(els.input.files);
    els.input.value = "";
  });
  // A pasted file is attached; the text pasted with it (if any) still goes in the box.
  els.text.addEventListener("paste", (event) => {
    const pasted = event.clipboardData ? Array.from(event.clipboardData.files || []) : [];
    if (!pasted.length || !enabled) return;
    if (!event.clipboardData.getData("text/plain")) event.preventDefault();
    add(pasted);
  });

  return {
    enabled,
    add,
    clear,
    keep,
    modelChanged,
    ids: () => files.ids(),
    attachments: () => files.ready(),
    tokens: () => files.tokens(),
    holdReason: () => files.holdReason(),
    isEmpty: () => !files.items.length,
  };
}

/* Files dragged over `area` show `overlay`; dropped, they go to `trayAt(target)`'s tray
 * (the editor they fall on, else the composer). The overlay lets the pointer through. */
export function watchDrops({ area, overlay, trayAt }) {
  const carriesFiles = (event) => Boolean(event.dataTransfer)
    && Array.from(event.dataTransfer.types || []).includes("Files");
  const hide = () => { overlay.hidden = true; };
  for (const type of ["dragenter", "dragover"]) {
    area.addEventListener(type, (event) => {
      if (!carriesFiles(event) || !trayAt(event.target)?.enabled) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      overlay.hidden = false;
    });
  }
  area.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget || !area.contains(event.relatedTarget)) hide();
  });
  area.addEventListener("drop", (event) => {
    hide();
    if (!carriesFiles(event)) return;
    const tray = trayAt(event.target);
    if (!tray || !tray.enabled) return;
    event.preventDefault();
    tray.add(event.dataTransfer.files);
  });
  window.addEventListener("dragend", hide);
  // Files let go anywhere else would replace the page with the file: they are ignored.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (carriesFiles(event) && !event.defaultPrevented) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "none";
        if (type === "drop") hide();
      }
    });
  }
}
