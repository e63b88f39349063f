/*
 * The tab's one WebSocket (docs/protocol.md): connects, reconnects with a growing delay,
 * and sends again the user messages the server has not answered. Frames come and go as
 * objects; what they mean is the caller's business. The browser's WebSocket and timers
 * can be replaced, so that node's test runner drives it (tests/js/socket.test.mjs).
 */

export const RECONNECT_MIN_MS = 500;
export const RECONNECT_MAX_MS = 10000;
// The close code of a message too big for the server (docs/protocol.md).
export const CLOSE_TOO_BIG = 1009;

// Errors that refuse a user_message; other codes (not_streaming, ...) are about other frames.
const USER_MESSAGE_ERRORS = new Set([
  "empty_text", "text_too_long", "invalid_field", "not_found", "busy", "not_configured",
]);

export function socketUrl(location, path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

/* The user_message frames sent and not yet answered, by client_id: "pending" ones are sent
 * again on every new connection (the server stores a client_id once); "failed" ones wait
 * for the person to retry or edit them. */
export class Unacknowledged {
  constructor() {
    this.entries = new Map();
  }

  // `extra` is the caller's own (e.g. the element that shows the message).
  add(frame, extra = {}) {
    const entry = { ...extra, frame, status: "pending", error: null };
    this.entries.set(frame.client_id, entry);
    return entry;
  }

  get(clientId) {
    return this.entries.get(clientId) || null;
  }

  // The server stored it (or it is withdrawn): forget it and hand it back.
  remove(clientId) {
    const entry = this.get(clientId);
    this.entries.delete(clientId);
    return entry;
  }

  fail(entry, error) {
    entry.status = "failed";
    entry.error = error;
  }

  retry(entry) {
    entry.status = "pending";
    entry.error = null;
  }

  hasPending() {
    return Array.from(this.entries.values()).some((e) => e.status === "pending");
  }

  resendable() {
    return Array.from(this.entries.values()).filter((e) => e.status === "pending").map((e) => e.frame);
  }

  // The message an error frame refuses: named by its client_id, or else, since the server
  // answers frames in order, the oldest one still pending.
  refusedBy(frame) {
    const named = frame.client_id ? this.get(frame.client_id) : null;
    if (named || !USER_MESSAGE_ERRORS.has(frame.code)) return named;
    return Array.from(this.entries.values()).find((e) => e.status === "pending") || null;
  }
}

/* Connects to `url` and keeps connecting. On each open it sends firstFrame() (if any), then the
 * pending messages; onReconnected() follows every open but the first. */
export function createSocket({
  url,
  unacknowledged,
  firstFrame = () => null,
  onFrame,
  onReconnected = () => {},
  onReconnecting = () => {},
  WebSocket = globalThis.WebSocket,
  setTimeout = globalThis.setTimeout,
  clearTimeout = globalThis.clearTimeout,
}) {
  const socket = { ws: null, delay: RECONNECT_MIN_MS, timer: 0, everOpened: false, unloading: false };

  function send(frame) {
    const ws = socket.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false; // pending user messages are sent again when the socket opens
  }

  function opened() {
    const reconnected = socket.everOpened;
    socket.everOpened = true;
    socket.delay = RECONNECT_MIN_MS;
    onReconnecting(false);
    const first = firstFrame();
    if (first) send(first);
    for (const frame of unacknowledged.resendable()) send(frame);
    if (reconnected) onReconnected();
  }

  function received(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (frame && typeof frame === "object" && !Array.isArray(frame)) onFrame(frame);
  }

  function connect() {
    clearTimeout(socket.timer);
    socket.timer = 0;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket.ws = ws;
    // A replaced socket's late events are ignored.
    ws.addEventListener("open", () => { if (socket.ws === ws) opened(); });
    ws.addEventListener("message", (event) => { if (socket.ws === ws) received(event); });
    ws.addEventListener("close", (event) => {
      if (socket.ws !== ws) return;
      socket.ws = null;
      if (event && event.code === CLOSE_TOO_BIG) refuseTooBig();
      if (socket.unloading) return;
      onReconnecting(true);
      scheduleReconnect();
    });
  }

  // The server closed the socket over a frame larger than it takes (1009): the messages
  // still pending are refused as the server would refuse them, rather than sent again on
  // the next connection (and refused again, for ever).
  function refuseTooBig() {
    for (const frame of unacknowledged.resendable()) {
      onFrame({
        type: "error",
        code: "frame_too_large",
        message: "This message is too large for the server to take: shorten it or remove files.",
        conversation_id: frame.conversation_id ?? null,
        client_id: frame.client_id,
      });
    }
  }

  // Waits 0.5 s, then twice as long after each failure, up to 10 s.
  function scheduleReconnect() {
    if (socket.timer) return;
    const delay = socket.delay;
    socket.delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    socket.timer = setTimeout(() => {
      socket.timer = 0;
      connect();
    }, delay);
  }

  // The network or the tab is back: try at once rather than at the end of the delay.
  function reconnectSoon() {
    if (socket.ws || socket.unloading) return;
    clearTimeout(socket.timer);
    socket.timer = 0;
    socket.delay = RECONNECT_MIN_MS;
    connect();
  }

  function setUnloading(unloading) {
    socket.unloading = unloading;
  }

  return { connect, send, reconnectSoon, setUnloading };
}

/* Reconnects when the network or the tab comes back; a page leaving (or frozen in the
 * back/forward cache) does not try to. */
export function watchPage(socket, { window = globalThis.window, document = globalThis.document } = {}) {
  window.addEventListener("online", socket.reconnectSoon);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") socket.reconnectSoon();
  });
  window.addEventListener("pagehide", () => socket.setUnloading(true));
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      socket.setUnloading(false);
      socket.reconnectSoon();
    }
  });
}
