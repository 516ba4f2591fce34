import assert from "node:assert/strict";
import { test } from "node:test";
import { REVEAL_GAP, foreignScroll, scrollTarget } from "../src/ui/scroll";
import { wheelZooms } from "../src/model/viewport";

test("scrollTarget puts the target just below the header", () => {
  // Target 1040 px down the viewport at scroll 500, header ending at 48 px.
  assert.equal(scrollTarget(1040, 500, 48), 500 + 1040 - 48 - REVEAL_GAP);
  // Any scroll position: the same arithmetic; never above the page top.
  assert.equal(scrollTarget(200, 1000, 48, 0), 1152);
  assert.equal(scrollTarget(10, 0, 48), 0);
});

test("a plain wheel scrolls the page; Ctrl/Cmd or a click into the heatmap zooms", () => {
  assert.equal(wheelZooms({ ctrlKey: false, metaKey: false }, false), false);
  assert.equal(wheelZooms({ ctrlKey: true, metaKey: false }, false), true);
  assert.equal(wheelZooms({ ctrlKey: false, metaKey: true }, false), true);
  assert.equal(wheelZooms({ ctrlKey: false, metaKey: false }, true), true);
});

test("following stops when the page is scrolled by someone else, not when content grows", () => {
  assert.equal(foreignScroll({ scrollY: 500, docTop: 1200 }, { scrollY: 900, docTop: 1200 }), true);
  assert.equal(foreignScroll({ scrollY: 500, docTop: 1200 }, { scrollY: 500, docTop: 1500 }), false);
  // Scroll anchoring: the page moves with the grown content.
  assert.equal(foreignScroll({ scrollY: 500, docTop: 1200 }, { scrollY: 800, docTop: 1500 }), false);
  assert.equal(foreignScroll({ scrollY: 500, docTop: 1200 }, { scrollY: 500, docTop: 1200 }), false);
});
