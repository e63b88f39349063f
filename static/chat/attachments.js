/*
 * Files attached to a message (docs/protocol.md: `POST /attachments/`, the `attachments`
 * of `user_message` and `edit`, the `image` and `document` blocks of a message): which
 * kinds may be attached, whether a model reads them, how one is described, and the state
 * of the files in a composer: each uploading, attached or refused, and what holds a send
 * back. Pure (no DOM, no network), so that node's test runner checks it
 * (tests/js/attachments.test.mjs); attachment-tray.js uploads and draws them.
 */

import { formatCount } from "./format.js";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const TEXT_EXTENSIONS = ["txt", "md", "markdown", "csv"];

// The file input's `accept`: what the server takes (it checks the content all the same).
export const ACCEPT = [...IMAGE_TYPES, "application/pdf", ".pdf", "text/plain", "text/markdown", "text/csv",
  ...TEXT_EXTENSIONS.map((ext) => `.${ext}`)].join(",");

/* The kind of a file as the server will store it ("image", "pdf", "text"), from its type
 * or else its name; null for a kind it does not take. */
export function fileKind(file) {
  const type = String(file.type || "").toLowerCase();
  const extension = /\.([a-z0-9]+)$/i.exec(file.name || "")?.[1].toLowerCase() || "";
  if (IMAGE_TYPES.includes(type) || ["png", "jpg", "jpeg", "gif", "webp"].includes(extension)) return "image";
  if (type === "application/pdf" || extension === "pdf") return "pdf";
  if (/^text\/(plain|markdown|csv|x-markdown)$/.test(type) || TEXT_EXTENSIONS.includes(extension)) return "text";
  return null;
}

const KIND_NAMES = { image: "images", pdf: "PDFs" };
const KIND_FLAGS = { image: "image_input", pdf: "pdf_input" };

/* Why `model` cannot read a file of `kind` ("Claude Haiku 3 cannot read images."), or ""
 * when it can (or the model is unknown: the server has the last word). */
export function unreadableReason(model, kind) {
  if (!model || !Object.prototype.hasOwnProperty.call(KIND_FLAGS, kind)) return "";
  return model[KIND_FLAGS[kind]] === false ? `${model.label} cannot read ${KIND_NAMES[kind]}.` : "";
}

export function formatBytes(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}

const KIND_LABELS = { image: "Image", pdf: "PDF", text: "Text" };

/* An attachment in a few words: "PDF · 12 pages · 1.2 MB", "Image · 800×600 · 240 KB". */
export function attachmentDetail(attachment) {
  const parts = [KIND_LABELS[attachment.kind] || "File"];
  if (attachment.pages) parts.push(`${formatCount(attachment.pages)} page${attachment.pages === 1 ? "" : "s"}`);
  if (attachment.width && attachment.height) parts.push(`${attachment.width}×${attachment.height}`);
  if (attachment.size != null) parts.push(formatBytes(attachment.size));
  return parts.join(" · ");
}

// A message's attachments, from the image and document blocks of its content.
export function attachmentsOfContent(content) {
  if (!Array.isArray(content)) return [];
  return content
    .filter((block) => block && (block.type === "image" || block.type === "document") && block.attachment)
    .map((block) => block.attachment);
}

// The server's refusal of an upload, in its words.
export function uploadErrorText(result) {
  const error = result.data && result.data.error;
  if (error && typeof error === "object" && error.message) return error.message;
  if (typeof error === "string") return error;
  if (result.status === 0) return "Could not upload: the server is unreachable.";
  if (result.status === 413) return "The file is too large.";
  return `Could not upload (HTTP ${result.status}).`;
}

/* The files of one composer: `max` at most. Each item is {key, name, size, kind, state:
 * "uploading", "ready" or "failed", attachment (the server's, once ready), error}. */
export class AttachmentList {
  constructor(max) {
    this.max = max;
    this.items = [];
    this.nextKey = 1;
  }

  /* Adds files ({name, size, type}); a kind the server does not take is refused at once.
   * Returns {added: [items], refused: [names]} (those over the maximum). */
  add(files) {
    const added = [];
    const refused = [];
    for (const file of files) {
      if (this.items.length >= this.max) {
        refused.push(file.name);
        continue;
      }
      const kind = fileKind(file);
      const item = {
        key: this.nextKey++, name: file.name || "file", size: file.size, kind,
        state: kind ? "uploading" : "failed", attachment: null,
        error: kind ? "" : "This kind of file cannot be attached (images, PDFs and text files can).",
      };
      this.items.push(item);
      added.push(item);
    }
    return { added, refused };
  }

  // Attachments already stored (an edited message's own): attached as they are.
  keep(attachments) {
    for (const attachment of attachments) {
      this.items.push({
        key: this.nextKey++, name: attachment.name, size: attachment.size, kind: attachment.kind,
        state: "ready", attachment, error: "",
      });
    }
  }

  get(key) {
    return this.items.find((item) => item.key === key) || null;
  }

  uploaded(key, attachment) {
    const item = this.get(key);
    if (!item) return null;
    Object.assign(item, { state: "ready", attachment, kind: attachment.kind || item.kind, error: "" });
    return item;
  }

  failed(key, error) {
    const item = this.get(key);
    if (item) Object.assign(item, { state: "failed", error });
    return item;
  }

  remove(key) {
    this.items = this.items.filter((item) => item.key !== key);
  }

  clear() {
    this.items = [];
  }

  ready() {
    return this.items.filter((item) => item.state === "ready").map((item) => item.attachment);
  }

  ids() {
    return this.ready().map((attachment) => attachment.id);
  }

  // The tokens the attached files add to the next request (the server's bound of each).
  tokens() {
    return this.ready().reduce((sum, attachment) => sum + (Number(attachment.tokens) || 0), 0);
  }

  uploading() {
    return this.items.filter((item) => item.state === "uploading").length;
  }

  // What holds a send back, in words; "" when nothing does.
  holdReason() {
    const uploading = this.uploading();
    if (uploading) return `Waiting for ${uploading} file${uploading === 1 ? "" : "s"} to upload…`;
    const failed = this.items.filter((item) => item.state === "failed").length;
    if (failed) return `To send, remove the file${failed === 1 ? "" : "s"} that could not be attached.`;
    return "";
  }
}
