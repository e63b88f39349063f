/*
 * Attachments on the page: a sent message's images (thumbnails that open the file in a
 * new tab) and documents (file cards: icon, name, kind, pages, size), and the chips of the
 * files in a composer or an editor (a preview or an icon, the name, its state, a Remove
 * button, the server's refusal). Names are set as text, addresses only as http(s) ones.
 */

import { attachmentDetail } from "./attachments.js";
import { element } from "./dom.js";
import { safeHttpUrl } from "./format.js";
import { icon, iconButton } from "./icons.js";

const shown = new WeakMap(); // a message element -> the attachments it shows

const safeUrl = (url) => (url ? safeHttpUrl(url) : null);

// One attachment of a sent message: a thumbnail for an image, else a file card.
export function attachmentElement(attachment) {
  const url = safeUrl(attachment.url);
  const link = element(url ? "a" : "span", "");
  if (url) {
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = `Open ${attachment.name} in a new tab`;
  }
  const thumbnail = attachment.kind === "image" && safeUrl(attachment.thumbnail_url || attachment.url);
  if (thumbnail) {
    link.className = "attachment-thumb";
    const img = element("img");
    img.src = thumbnail;
    img.alt = attachment.name || "Image";
    img.loading = "lazy";
    img.decoding = "async";
    link.append(img);
    return link;
  }
  link.className = `file-card file-card-${attachment.kind || "file"}`;
  const text = element("span", "file-card-text");
  text.append(element("span", "file-card-name", attachment.name || "File"),
    element("span", "file-card-detail", attachmentDetail(attachment)));
  link.append(icon("file"), text);
  return link;
}

/* Shows a message's attachments above its text (none: the area goes). */
export function showMessageAttachments(el, attachments) {
  let area = el.querySelector(".message-attachments");
  shown.set(el, attachments);
  if (!attachments.length) {
    area?.remove();
    return;
  }
  if (!area) {
    area = element("div", "message-attachments");
    area.setAttribute("role", "group");
    area.setAttribute("aria-label", "Attached files");
    el.querySelector(".message-body").before(area);
  }
  area.replaceChildren(...attachments.map(attachmentElement));
}

export const messageAttachments = (el) => shown.get(el) || [];

/* A chip for a file of a composer (attachments.js's item): `preview` an image's local
 * address while it uploads, `warning` why the model will not read it, `onRemove()`. */
export function chipElement(item, { preview = "", warning = "", onRemove, idPrefix }) {
  const chip = element("li", "chip");
  chip.dataset.state = item.state;
  chip.dataset.key = String(item.key);
  const thumbUrl = (item.attachment && safeUrl(item.attachment.thumbnail_url)) || preview;
  const thumb = element("span", "chip-thumb");
  if (item.kind === "image" && thumbUrl) {
    const img = element("img");
    img.src = thumbUrl;
    img.alt = "";
    thumb.append(img);
  } else {
    thumb.append(icon(item.state === "failed" ? "alert" : "file"));
  }
  const text = element("span", "chip-text");
  let detail = "Uploading…";
  if (item.state === "ready") detail = attachmentDetail(item.attachment);
  if (item.state === "failed") detail = "Not attached";
  text.append(element("span", "chip-name", item.name), element("span", "chip-detail", detail));
  const remove = iconButton("close", `Remove ${item.name}`, "chip-remove");
  remove.addEventListener("click", onRemove);
  chip.append(thumb, text, remove);
  if (item.state === "uploading") {
    // Indeterminate: fetch() does not tell an upload's progress.
    const progress = element("span", "chip-progress");
    progress.setAttribute("role", "progressbar");
    progress.setAttribute("aria-label", `Uploading ${item.name}`);
    chip.append(progress);
  }
  const note = item.state === "failed" ? item.error : warning;
  if (note) {
    const p = element("p", item.state === "failed" ? "chip-error" : "chip-warning", note);
    p.id = `${idPrefix}-${item.key}-note`;
    if (item.state === "failed") p.setAttribute("role", "alert");
    remove.setAttribute("aria-describedby", p.id);
    chip.append(p);
  }
  return chip;
}
