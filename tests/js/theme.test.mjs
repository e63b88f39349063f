// The colour theme's choices (static/chat/theme.js): their order, label and storage.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { keepTheme, nextTheme, storedTheme, themeLabel } from "../../static/chat/theme.js";

function memoryStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return {
    getItem: (key) => (data.has(key) ? data.get(key) : null),
    setItem: (key, value) => data.set(key, String(value)),
    removeItem: (key) => data.delete(key),
    data,
  };
}

describe("the theme", () => {
  test("the button goes System, Light, Dark and round again", () => {
    assert.equal(nextTheme("system"), "light");
    assert.equal(nextTheme("light"), "dark");
    assert.equal(nextTheme("dark"), "system");
    assert.equal(nextTheme("sepia"), "system");
  });

  test("its label names the choice", () => {
    assert.equal(themeLabel("system"), "Theme: System");
    assert.equal(themeLabel("dark"), "Theme: Dark");
  });

  test("a kept choice is read back; System is kept as no choice", () => {
    const storage = memoryStorage();
    keepTheme(storage, "theme", "dark");
    assert.equal(storedTheme(storage, "theme"), "dark");
    keepTheme(storage, "theme", "system");
    assert.equal(storage.data.size, 0);
    assert.equal(storedTheme(storage, "theme"), "system");
  });

  test("an unknown value or a storage that throws is System", () => {
    assert.equal(storedTheme(memoryStorage({ theme: "neon" }), "theme"), "system");
    const throwing = { getItem() { throw new Error("denied"); }, setItem() { throw new Error("denied"); } };
    assert.equal(storedTheme(throwing, "theme"), "system");
    assert.doesNotThrow(() => keepTheme(throwing, "theme", "dark"));
  });
});
