import assert from "node:assert/strict";
import { test } from "node:test";
import { IDENTITY, cellAt, clampView, panBy, toContent, wheelFactor, zoomAt } from "../src/model/viewport";
import { toScreen } from "./helpers";

test("zoomAt keeps the point under the cursor fixed", () => {
  const w = 200;
  const h = 100;
  const v = zoomAt(IDENTITY, 2, 50, 50, w, h);
  assert.deepEqual(v, { scale: 2, tx: -50, ty: -50 });
  const [cx, cy] = toContent(v, 50, 50);
  assert.deepEqual([cx, cy], [50, 50]);
  // Twice more around another point.
  const v2 = zoomAt(v, 1.5, 120, 30, w, h);
  const before = toContent(v, 120, 30);
  const after = toContent(v2, 120, 30);
  assert.ok(Math.abs(before[0] - after[0]) < 1e-9 && Math.abs(before[1] - after[1]) < 1e-9);
  assert.deepEqual(toScreen(v2, ...after), [120, 30]);
});

test("views are clamped: scale in [1, max], content covers the box", () => {
  assert.deepEqual(zoomAt(IDENTITY, 0.5, 10, 10, 100, 100), IDENTITY);
  assert.equal(zoomAt(IDENTITY, 1000, 10, 10, 100, 100).scale, 64);
  assert.equal(zoomAt(IDENTITY, 1000, 10, 10, 100, 100, 8).scale, 8);
  assert.deepEqual(clampView({ scale: 2, tx: 10, ty: -500 }, 100, 100), { scale: 2, tx: 0, ty: -100 });
  assert.deepEqual(clampView({ scale: NaN, tx: NaN, ty: 0 }, 100, 100), IDENTITY);
  const v = zoomAt(IDENTITY, 4, 0, 0, 100, 100);
  assert.deepEqual(panBy(v, 1000, 1000, 100, 100), { scale: 4, tx: 0, ty: 0 });
  assert.deepEqual(panBy(v, -1000, -1000, 100, 100), { scale: 4, tx: -300, ty: -300 });
  assert.deepEqual(panBy(v, -30, -10, 100, 100), { scale: 4, tx: -30, ty: -10 });
  // Zooming back out to 1 always returns to the identity view.
  assert.deepEqual(zoomAt(panBy(v, -50, -50, 100, 100), 0.25, 70, 20, 100, 100), IDENTITY);
});

test("cellAt maps the hovered screen point to the right cell under zoom and pan", () => {
  const rows = 64;
  const cols = 64;
  const w = 448;
  const h = 448; // 7 px cells
  assert.deepEqual(cellAt(IDENTITY, 3.5 * 7, 17.5 * 7, w, h, rows, cols), { i: 17, j: 3 });
  let v = zoomAt(IDENTITY, 4, 100, 200, w, h);
  v = panBy(v, -37, 12, w, h);
  // Every cell centre, put on screen through the view, maps back to the same cell.
  for (const [i, j] of [[0, 0], [17, 3], [40, 40], [63, 63], [30, 10]]) {
    const [sx, sy] = toScreen(v, (j + 0.5) * 7, (i + 0.5) * 7);
    if (sx < 0 || sy < 0 || sx >= w || sy >= h) {
      assert.equal(cellAt(v, sx, sy, w, h, rows, cols), null, "off-screen cell");
      continue;
    }
    assert.deepEqual(cellAt(v, sx, sy, w, h, rows, cols), { i, j });
  }
  assert.equal(cellAt(IDENTITY, -1, 5, w, h, rows, cols), null);
  assert.equal(cellAt(IDENTITY, w, 5, w, h, rows, cols), null);
  assert.equal(cellAt(IDENTITY, 5, 5, 0, h, rows, cols), null);
});


test("wheelFactor zooms in on negative deltas, symmetric, bounded", () => {
  assert.ok(wheelFactor(-100) > 1);
  assert.ok(wheelFactor(100) < 1);
  assert.ok(Math.abs(wheelFactor(-100) * wheelFactor(100) - 1) < 1e-12);
  assert.equal(wheelFactor(-3, 1), wheelFactor(-48, 0));
  assert.equal(wheelFactor(-1e6), wheelFactor(-300));
});
