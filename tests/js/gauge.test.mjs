// The context gauge's arithmetic (static/chat/gauge.js).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { contextTokens, gaugeReading, percentText } from "../../static/chat/gauge.js";

const usage = (input, output, created = 0, read = 0) => ({
  input_tokens: input, output_tokens: output, cache_creation_input_tokens: created, cache_read_input_tokens: read,
});

describe("the conversation's size", () => {
  test("the last reply's input, cache writes, cache reads and output", () => {
    assert.equal(contextTokens([usage(10, 5), usage(40, 30, 2000, 10000)]), 12070);
  });

  test("a reply that counts nothing (failed before the model read) is passed over", () => {
    assert.equal(contextTokens([usage(10, 5), usage(0, 0), null]), 15);
    assert.equal(contextTokens([{ input_tokens: 7 }]), 7, "a streaming reply's usage so far");
  });

  test("nothing before the first reply", () => {
    assert.equal(contextTokens([]), null);
    assert.equal(contextTokens([null, usage(0, 0)]), null);
  });
});

describe("the reading", () => {
  test("tokens out of the model's window, with thousands separators", () => {
    assert.deepEqual(gaugeReading(12340, 200000), {
      tokens: 12340, attached: 0, window: 200000, fraction: 0.0617, warn: false, full: false, text: "12,340 / 200,000 tokens",
    });
  });

  test("a warning above 90% of the window, and past it", () => {
    assert.equal(gaugeReading(180000, 200000).warn, false);
    assert.equal(gaugeReading(180001, 200000).warn, true);
    assert.equal(gaugeReading(250000, 200000).warn, true);
    assert.equal(gaugeReading(199999, 200000).full, false);
    assert.equal(gaugeReading(200000, 200000).full, true);
    assert.equal(percentText(gaugeReading(250000, 200000).fraction), "100%");
    assert.equal(percentText(gaugeReading(12340, 200000).fraction), "6%");
  });

  test("no window known: the tokens alone; no tokens: nothing", () => {
    assert.deepEqual(gaugeReading(512, null), {
      tokens: 512, attached: 0, window: null, fraction: null, warn: false, full: false, text: "512 tokens",
    });
    assert.equal(gaugeReading(512, 0).fraction, null);
    assert.equal(gaugeReading(null, 200000), null);
  });
});

describe("files attached to the next message", () => {
  test("their tokens count in, and are named", () => {
    const reading = gaugeReading(12000, 200000, 1600);
    assert.equal(reading.tokens, 13600);
    assert.equal(reading.attached, 1600);
    assert.equal(reading.text, "13,600 / 200,000 tokens · 1,600 in files");
  });

  test("before any reply, the files alone fill the gauge", () => {
    assert.equal(gaugeReading(null, 200000, 1600).text, "1,600 / 200,000 tokens · 1,600 in files");
    assert.equal(gaugeReading(null, null, 800).text, "800 tokens · 800 in files");
    assert.equal(gaugeReading(null, 200000, 0), null);
  });

  test("files can take the conversation past the window's warning", () => {
    assert.equal(gaugeReading(170000, 200000).warn, false);
    assert.equal(gaugeReading(170000, 200000, 20000).warn, true);
    assert.equal(gaugeReading(190000, 200000, 20000).full, true);
  });
});
