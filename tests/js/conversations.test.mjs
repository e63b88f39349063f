// The sidebar's list as data (static/chat/conversations.js): date groups, pages merged
// without duplicates, search snippets read as text.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  dateGroup, groupConversations, mergeConversations, snippetParts,
} from "../../static/chat/conversations.js";

// Local times, so that the tests mean the same in any time zone.
const NOW = new Date(2026, 10, 24, 9, 30); // 24 November 2026, 09:30
const at = (month, day, hour = 12) => new Date(2026, month, day, hour).toISOString();
const conv = (id, updated_at, fields = {}) => ({ id, title: `C${id}`, pinned: false, updated_at, ...fields });
const labels = (groups) => groups.map((g) => g.label);
const ids = (groups) => groups.map((g) => g.items.map((c) => c.id));

describe("date groups", () => {
  test("today, yesterday, the previous 7 and 30 days, then months", () => {
    const groups = groupConversations([
      conv(1, at(10, 24, 0)), // today, just after midnight
      conv(2, at(10, 23, 23)), // yesterday, late
      conv(3, at(10, 22)),
      conv(4, at(10, 17)), // 7 days ago
      conv(5, at(10, 16)), // 8 days ago
      conv(6, at(9, 25)), // 30 days ago
      conv(7, at(9, 24)), // 31 days ago
      conv(8, at(9, 1)),
      conv(9, new Date(2025, 11, 31).toISOString()),
    ], NOW);
    assert.deepEqual(labels(groups), [
      "Today", "Yesterday", "Previous 7 days", "Previous 30 days", "October 2026", "December 2025",
    ]);
    assert.deepEqual(ids(groups), [[1], [2], [3, 4], [5, 6], [7, 8], [9]]);
  });

  test("pinned conversations come first in their own group, whatever their date", () => {
    const groups = groupConversations([
      conv(1, at(10, 24)),
      conv(2, at(5, 1), { pinned: true }),
      conv(3, at(10, 24, 8), { pinned: true }),
    ], NOW);
    assert.deepEqual(labels(groups), ["Pinned", "Today"]);
    assert.deepEqual(ids(groups), [[3, 2], [1]]);
  });

  test("newest first within a group; equal times put the higher id first", () => {
    const groups = groupConversations([conv(1, at(10, 24, 8)), conv(3, at(10, 24, 7)), conv(2, at(10, 24, 8))], NOW);
    assert.deepEqual(ids(groups), [[2, 1, 3]]);
  });

  test("a time ahead of ours is today; a missing or broken one is last, under Older", () => {
    const groups = groupConversations([conv(1, null), conv(2, "not a date"), conv(3, at(10, 25))], NOW);
    assert.deepEqual(labels(groups), ["Today", "Older"]);
    assert.deepEqual(ids(groups), [[3], [2, 1]]);
  });

  test("days are calendar days, not 24-hour spans", () => {
    const lateNow = new Date(2026, 10, 24, 23, 59);
    assert.equal(dateGroup(new Date(2026, 10, 24, 0, 1), lateNow).label, "Today");
    assert.equal(dateGroup(new Date(2026, 10, 23, 23, 59), new Date(2026, 10, 24, 0, 1)).label, "Yesterday");
  });

  test("a month of another year is named with its year", () => {
    assert.equal(dateGroup(new Date(2025, 10, 2), NOW).label, "November 2025");
  });

  test("no conversations: no groups", () => {
    assert.deepEqual(groupConversations([], NOW), []);
  });
});

describe("pages of the list", () => {
  test("a page merges by id: nothing twice, the page's copy wins", () => {
    const merged = mergeConversations(
      [conv(1, at(10, 24), { title: "Old title" }), conv(2, at(10, 23))],
      [conv(1, at(10, 24), { title: "New title" }), conv(3, at(9, 1))],
    );
    assert.deepEqual(merged.map((c) => [c.id, c.title]), [[1, "New title"], [2, "C2"], [3, "C3"]]);
  });

  test("ids as strings and numbers are the same conversation", () => {
    assert.equal(mergeConversations([conv("5", at(10, 1))], [conv(5, at(10, 2))]).length, 1);
  });
});

describe("search snippets", () => {
  test("matches are marked parts, the rest plain text", () => {
    assert.deepEqual(snippetParts("…the <mark>quick</mark> brown <mark>fox</mark>"), [
      { text: "…the ", marked: false },
      { text: "quick", marked: true },
      { text: " brown ", marked: false },
      { text: "fox", marked: true },
    ]);
  });

  test("escaped text is shown as the characters it stands for", () => {
    assert.deepEqual(snippetParts("a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#x27; <mark>&lt;e&gt;</mark>"), [
      { text: `a <b> & "c" 'd' `, marked: false },
      { text: "<e>", marked: true },
    ]);
  });

  test("any other tag stays text, so it can never become markup", () => {
    const parts = snippetParts('<img src=x onerror="alert(1)"><mark>hit</mark><script>x</script>');
    assert.deepEqual(parts, [
      { text: '<img src=x onerror="alert(1)">', marked: false },
      { text: "hit", marked: true },
      { text: "<script>x</script>", marked: false },
    ]);
  });

  test("unknown or broken entities are left as they are", () => {
    assert.deepEqual(snippetParts("&nope; &#0; &"), [{ text: "&nope; &#0; &", marked: false }]);
  });

  test("an empty or missing snippet has no parts", () => {
    assert.deepEqual(snippetParts(""), []);
    assert.deepEqual(snippetParts(null), []);
  });
});
