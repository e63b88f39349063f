// The socket's reconnection and resending (static/chat/socket.js), with a fake WebSocket
// and fake timers.
import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import {
  CLOSE_TOO_BIG, RECONNECT_MAX_MS, RECONNECT_MIN_MS, Unacknowledged, createSocket, watchPage,
} from "../../static/chat/socket.js";

class FakeWebSocket extends EventTarget {
  static OPEN = 1;
  static made = [];

  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWebSocket.made.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  open() {
    this.readyState = FakeWebSocket.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  close() {
    this.readyState = 3;
    this.dispatchEvent(new Event("close"));
  }

  receive(data) {
    const event = new Event("message");
    event.data = data;
    this.dispatchEvent(event);
  }
}

class FakeTimers {
  constructor() {
    this.pending = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, delay) => {
      const id = this.nextId++;
      this.pending.set(id, { fn, delay });
      return id;
    };
    this.clearTimeout = (id) => this.pending.delete(id);
  }

  // Runs the one timer waiting, and says how long it waited.
  fire() {
    assert.equal(this.pending.size, 1, "one reconnection timer");
    const [[id, { fn, delay }]] = this.pending;
    this.pending.delete(id);
    fn();
    return delay;
  }
}

const userMessage = (n) => ({ type: "user_message", conversation_id: 3, text: `message ${n}`, client_id: `id-${n}` });
const lastSocket = () => FakeWebSocket.made.at(-1);

let timers;
let unacknowledged;
let events;

function connected(options = {}) {
  const socket = createSocket({
    url: "ws://chat.example/ws/chat/",
    unacknowledged,
    onFrame: (frame) => events.push(["frame", frame]),
    onReconnected: () => events.push(["reconnected"]),
    onReconnecting: (reconnecting) => events.push(["reconnecting", reconnecting]),
    WebSocket: FakeWebSocket,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    ...options,
  });
  socket.connect();
  return socket;
}

beforeEach(() => {
  FakeWebSocket.made = [];
  timers = new FakeTimers();
  unacknowledged = new Unacknowledged();
  events = [];
});

describe("reconnection", () => {
  test("waits 0.5 s, then twice as long after each failure, up to 10 s", () => {
    connected();
    const delays = [];
    for (let i = 0; i < 7; i += 1) {
      lastSocket().close();
      delays.push(timers.fire());
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
    assert.equal(RECONNECT_MIN_MS, 500);
    assert.equal(RECONNECT_MAX_MS, 10000);
    assert.equal(FakeWebSocket.made.length, 8);
  });

  test("a connection that opens starts the delays over, and says it is back", () => {
    connected();
    lastSocket().open();
    lastSocket().close();
    assert.equal(timers.fire(), 500);
    lastSocket().close();
    assert.equal(timers.fire(), 1000);
    lastSocket().open();
    lastSocket().close();
    assert.equal(timers.fire(), 500);
    assert.deepEqual(events.filter(([kind]) => kind !== "frame"), [
      ["reconnecting", false],
      ["reconnecting", true],
      ["reconnecting", true],
      ["reconnecting", false],
      ["reconnected"],
      ["reconnecting", true],
    ]);
  });

  test("a WebSocket that cannot even be made is retried later", () => {
    let fail = true;
    class Refusing extends FakeWebSocket {
      constructor(url) {
        if (fail) throw new SyntaxError("bad url");
        super(url);
      }
    }
    connected({ WebSocket: Refusing });
    assert.equal(FakeWebSocket.made.length, 0);
    fail = false;
    assert.equal(timers.fire(), 500);
    assert.equal(FakeWebSocket.made.length, 1);
  });

  test("frames are sent only on an open socket", () => {
    const socket = connected();
    assert.equal(socket.send({ type: "open", conversation_id: 1 }), false);
    lastSocket().open();
    assert.equal(socket.send({ type: "open", conversation_id: 1 }), true);
    assert.deepEqual(lastSocket().sent, [{ type: "open", conversation_id: 1 }]);
  });

  test("JSON objects from the server are handed over; anything else is dropped", () => {
    connected();
    const ws = lastSocket();
    ws.open();
    for (const data of ['{"type": "conversation", "conversation_id": 1}', "not json", "[1, 2]", "42", "null"]) {
      ws.receive(data);
    }
    assert.deepEqual(events.filter(([kind]) => kind === "frame"), [["frame", { type: "conversation", conversation_id: 1 }]]);
  });

  test("a socket that was replaced is not listened to any more", () => {
    const socket = connected();
    const old = lastSocket();
    old.close();
    socket.reconnectSoon();
    const current = lastSocket();
    assert.notEqual(current, old);
    old.receive('{"type": "conversation"}');
    old.close();
    assert.equal(events.filter(([kind]) => kind === "frame").length, 0);
    assert.equal(timers.pending.size, 0, "the old socket's close schedules nothing");
  });
});

describe("resending", () => {
  test("each connection sends the first frame, then every message not yet answered, in order", () => {
    const socket = connected({ firstFrame: () => ({ type: "open", conversation_id: 3 }) });
    unacknowledged.add(userMessage(1));
    unacknowledged.add(userMessage(2));
    lastSocket().open();
    assert.deepEqual(lastSocket().sent, [{ type: "open", conversation_id: 3 }, userMessage(1), userMessage(2)]);

    unacknowledged.remove("id-1"); // the server stored it
    lastSocket().close();
    timers.fire();
    lastSocket().open();
    assert.deepEqual(lastSocket().sent, [{ type: "open", conversation_id: 3 }, userMessage(2)]);
    assert.equal(socket.send(userMessage(3)), true);
  });

  test("a new chat has no first frame; refused messages wait for a retry", () => {
    connected();
    const refused = unacknowledged.add(userMessage(1));
    unacknowledged.add(userMessage(2));
    unacknowledged.fail(refused, "The message is empty.");
    lastSocket().open();
    assert.deepEqual(lastSocket().sent, [userMessage(2)]);

    unacknowledged.retry(refused);
    lastSocket().close();
    timers.fire();
    lastSocket().open();
    assert.deepEqual(lastSocket().sent, [userMessage(1), userMessage(2)]);
  });

  test("a refusal names its message, or else refuses the oldest one still pending", () => {
    const first = unacknowledged.add(userMessage(1), { el: "first" });
    const second = unacknowledged.add(userMessage(2));
    assert.equal(first.el, "first");
    assert.equal(unacknowledged.refusedBy({ type: "error", code: "busy", client_id: "id-2" }), second);
    assert.equal(unacknowledged.refusedBy({ type: "error", code: "busy" }), first);
    unacknowledged.fail(first, "busy");
    assert.equal(unacknowledged.refusedBy({ type: "error", code: "text_too_long" }), second);
    assert.equal(unacknowledged.refusedBy({ type: "error", code: "not_streaming" }), null, "not about a message");
    assert.equal(unacknowledged.hasPending(), true);
    unacknowledged.fail(second, "busy");
    assert.equal(unacknowledged.hasPending(), false);
    assert.equal(unacknowledged.refusedBy({ type: "error", code: "busy" }), null);
  });
});

describe("the page", () => {
  let window;
  let document;

  beforeEach(() => {
    window = new EventTarget();
    document = new EventTarget();
    document.visibilityState = "hidden";
  });

  const event = (type, fields = {}) => Object.assign(new Event(type), fields);

  test("the network or the tab coming back reconnects at once, with the delays started over", () => {
    const socket = connected();
    watchPage(socket, { window, document });
    for (let i = 0; i < 3; i += 1) {
      lastSocket().close();
      timers.fire();
    }
    lastSocket().close(); // the next try would wait 4 s
    window.dispatchEvent(event("online"));
    assert.equal(timers.pending.size, 0);
    assert.equal(FakeWebSocket.made.length, 5);

    lastSocket().close();
    document.dispatchEvent(event("visibilitychange"));
    assert.equal(FakeWebSocket.made.length, 5, "a hidden tab waits");
    document.visibilityState = "visible";
    document.dispatchEvent(event("visibilitychange"));
    assert.equal(FakeWebSocket.made.length, 6);
    lastSocket().close();
    assert.equal(timers.fire(), 500);
  });

  test("a connected socket is left alone", () => {
    const socket = connected();
    watchPage(socket, { window, document });
    lastSocket().open();
    window.dispatchEvent(event("online"));
    assert.equal(FakeWebSocket.made.length, 1);
  });

  test("a page being left does not reconnect; back from the cache, it does at once", () => {
    const socket = connected();
    watchPage(socket, { window, document });
    lastSocket().open();
    window.dispatchEvent(event("pagehide"));
    lastSocket().close();
    window.dispatchEvent(event("online"));
    assert.equal(timers.pending.size, 0);
    assert.equal(FakeWebSocket.made.length, 1);
    assert.deepEqual(events.at(-1), ["reconnecting", false], "no Reconnecting… while leaving");

    window.dispatchEvent(event("pageshow", { persisted: false }));
    assert.equal(FakeWebSocket.made.length, 1);
    window.dispatchEvent(event("pageshow", { persisted: true }));
    assert.equal(FakeWebSocket.made.length, 2);
  });
});

describe("a message too big for the server", () => {
  test("is refused once (close 1009), not sent again on every reconnection", () => {
    connected({
      onFrame: (frame) => {
        events.push(["frame", frame]);
        const entry = frame.type === "error" && unacknowledged.get(frame.client_id);
        if (entry) unacknowledged.fail(entry, frame);
      },
    });
    lastSocket().open();
    unacknowledged.add(userMessage(1));
    const closing = lastSocket();
    closing.readyState = 3;
    const close = new Event("close");
    close.code = CLOSE_TOO_BIG;
    closing.dispatchEvent(close);

    const refusals = events.filter(([kind, frame]) => kind === "frame" && frame.code === "frame_too_large");
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0][1].client_id, "id-1");
    timers.fire();
    lastSocket().open();
    assert.deepEqual(lastSocket().sent, [], "nothing is sent again");
  });
});
