// Files attached to a message (static/chat/attachments.js): kinds, what a model reads, how
// one is described, and the state of a composer's files (the chips).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ACCEPT, AttachmentList, attachmentDetail, attachmentsOfContent, fileKind, formatBytes, unreadableReason, uploadErrorText,
} from "../../static/chat/attachments.js";

const file = (name, type = "", size = 1000) => ({ name, type, size });
const stored = (id, fields = {}) => ({
  id, name: `file${id}.png`, kind: "image", size: 2048, url: `/attachments/${id}/`, tokens: 800, ...fields,
});

describe("kinds", () => {
  test("images, PDFs and text files, by type or else by name", () => {
    assert.equal(fileKind(file("a.png", "image/png")), "image");
    assert.equal(fileKind(file("photo.JPG")), "image");
    assert.equal(fileKind(file("report.pdf", "application/pdf")), "pdf");
    assert.equal(fileKind(file("notes.md", "")), "text");
    assert.equal(fileKind(file("data.csv", "text/csv")), "text");
    assert.equal(fileKind(file("run.exe", "application/x-msdownload")), null);
    assert.equal(fileKind(file("image.svg", "image/svg+xml")), null);
  });

  test("the file input offers what the server takes", () => {
    for (const kind of ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", ".txt", ".md", ".csv"]) {
      assert.ok(ACCEPT.split(",").includes(kind), kind);
    }
  });

  test("a model that cannot read a kind says so; text is read by every model", () => {
    const model = { label: "Claude Haiku 3", image_input: false, pdf_input: false };
    assert.equal(unreadableReason(model, "image"), "Claude Haiku 3 cannot read images.");
    assert.equal(unreadableReason(model, "pdf"), "Claude Haiku 3 cannot read PDFs.");
    assert.equal(unreadableReason(model, "text"), "");
    assert.equal(unreadableReason({ label: "S", image_input: true, pdf_input: true }, "image"), "");
    assert.equal(unreadableReason(null, "image"), "", "an unknown model: the server decides");
  });
});

describe("descriptions", () => {
  test("sizes in B, KB and MB", () => {
    assert.equal(formatBytes(900), "900 B");
    assert.equal(formatBytes(2048), "2 KB");
    assert.equal(formatBytes(1.25 * 1024 * 1024), "1.3 MB");
    assert.equal(formatBytes(32 * 1024 * 1024), "32 MB");
  });

  test("kind, pages or dimensions, size", () => {
    assert.equal(attachmentDetail({ kind: "pdf", pages: 12, size: 1258291 }), "PDF · 12 pages · 1.2 MB");
    assert.equal(attachmentDetail({ kind: "pdf", pages: 1, size: 500 }), "PDF · 1 page · 500 B");
    assert.equal(attachmentDetail({ kind: "image", width: 800, height: 600, size: 245760 }), "Image · 800×600 · 240 KB");
    assert.equal(attachmentDetail({ kind: "text", size: 3072 }), "Text · 3 KB");
  });

  test("a message's attachments are its image and document blocks'", () => {
    const image = stored(1);
    const pdf = stored(2, { kind: "pdf", pages: 3 });
    const content = [{ type: "image", attachment: image }, { type: "document", attachment: pdf }, { type: "text", text: "Hi" }];
    assert.deepEqual(attachmentsOfContent(content), [image, pdf]);
    assert.deepEqual(attachmentsOfContent([{ type: "image", source: { type: "base64" } }]), []);
    assert.deepEqual(attachmentsOfContent("text"), []);
  });

  test("an upload's refusal in the server's words", () => {
    const refused = { ok: false, status: 400, data: { error: { code: "too_large", message: "The image is over 20 MB." } } };
    assert.equal(uploadErrorText(refused), "The image is over 20 MB.");
    assert.equal(uploadErrorText({ ok: false, status: 0, data: null }), "Could not upload: the server is unreachable.");
    assert.equal(uploadErrorText({ ok: false, status: 413, data: null }), "The file is too large.");
    assert.equal(uploadErrorText({ ok: false, status: 500, data: null }), "Could not upload (HTTP 500).");
  });
});

describe("a composer's files", () => {
  test("a file uploads, then is attached with the server's id and tokens", () => {
    const files = new AttachmentList(5);
    const { added } = files.add([file("a.png", "image/png"), file("b.pdf", "application/pdf")]);
    assert.deepEqual(added.map((item) => [item.name, item.kind, item.state]), [["a.png", "image", "uploading"], ["b.pdf", "pdf", "uploading"]]);
    assert.equal(files.holdReason(), "Waiting for 2 files to upload…");
    files.uploaded(added[0].key, stored(10));
    assert.equal(files.holdReason(), "Waiting for 1 file to upload…");
    files.uploaded(added[1].key, stored(11, { kind: "pdf", tokens: 3000 }));
    assert.deepEqual(files.ids(), [10, 11]);
    assert.equal(files.tokens(), 3800);
    assert.equal(files.holdReason(), "");
  });

  test("a refused file holds the send back until it is removed", () => {
    const files = new AttachmentList(5);
    const [item] = files.add([file("big.png", "image/png")]).added;
    files.failed(item.key, "The image is too large.");
    assert.equal(files.get(item.key).error, "The image is too large.");
    assert.equal(files.holdReason(), "To send, remove the file that could not be attached.");
    assert.deepEqual(files.ids(), []);
    files.remove(item.key);
    assert.equal(files.holdReason(), "");
  });

  test("a kind the server does not take is refused at once, never uploaded", () => {
    const files = new AttachmentList(5);
    const [item] = files.add([file("tool.exe", "application/octet-stream")]).added;
    assert.equal(item.state, "failed");
    assert.match(item.error, /cannot be attached/);
  });

  test("at most `max` files; the rest are named as refused", () => {
    const files = new AttachmentList(2);
    files.keep([stored(1)]);
    const { added, refused } = files.add([file("a.png", "image/png"), file("b.png", "image/png"), file("c.png", "image/png")]);
    assert.equal(added.length, 1);
    assert.deepEqual(refused, ["b.png", "c.png"]);
  });

  test("an edited message's files are kept as attached; removing one leaves the others", () => {
    const files = new AttachmentList(5);
    files.keep([stored(1), stored(2, { kind: "pdf" })]);
    assert.deepEqual(files.ids(), [1, 2]);
    files.remove(files.items[0].key);
    assert.deepEqual(files.ids(), [2]);
    files.clear();
    assert.deepEqual(files.ids(), []);
  });

  test("an answer for a file removed meanwhile changes nothing", () => {
    const files = new AttachmentList(5);
    const [item] = files.add([file("a.png", "image/png")]).added;
    files.remove(item.key);
    assert.equal(files.uploaded(item.key, stored(3)), null);
    assert.deepEqual(files.ids(), []);
  });
});
