"""What the fake's test modules share: the usual request, raw HTTP, SSE parsing."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request

import anthropic
from PIL import Image

MODEL = "claude-sonnet-5"
SNAPSHOT = "claude-sonnet-5-20260929"
HELLO = [{"role": "user", "content": "Hello there"}]


def async_client(fake, max_retries=0):
    return anthropic.AsyncAnthropic(
        api_key="test-key", base_url=fake.base_url, max_retries=max_retries
    )


def http(fake, method, path, body=None, headers=None):
    """A plain HTTP call (for what the SDK cannot send); returns (status, headers, bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        fake.base_url + path,
        data=data,
        method=method,
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def sse_events(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for frame in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


# --- images and documents ----------------------------------------------------------------------


def image_bytes(width=40, height=30, image_format="PNG"):
    """A real image of that size, made with Pillow."""
    buffer = io.BytesIO()
    mode = "RGB" if image_format in ("JPEG", "WEBP") else "P" if image_format == "GIF" else "RGB"
    Image.new(mode, (width, height), "teal" if mode == "RGB" else 3).save(buffer, image_format)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image_block(data=None, media_type="image/png"):
    data = image_bytes() if data is None else data
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": b64(data)},
    }


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(*pages: str) -> bytes:
    """A PDF whose pages hold these texts (one line each; "" for a page without text), written
    by hand: pypdf writes no text, and reportlab is not installed."""
    count = len(pages)
    font = 3 + 2 * count
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids ["
        + " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
        + f"] /Count {count} >>",
    ]
    for index, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({_pdf_string(text)}) Tj ET" if text else ""
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {4 + 2 * index} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return out


def pdf_block(data=None, **extra):
    data = pdf_bytes("Hello from a PDF.") if data is None else data
    source = {"type": "base64", "media_type": "application/pdf", "data": b64(data)}
    return {"type": "document", "source": source, **extra}


def text_document(text, **extra):
    source = {"type": "text", "media_type": "text/plain", "data": text}
    return {"type": "document", "source": source, **extra}


def ask(*blocks, text="What is it?"):
    """One user turn: these blocks, then the question."""
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": text}]}]
