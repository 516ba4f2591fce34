import assert from "node:assert/strict";
import { test } from "node:test";
import { interpolateViridis } from "d3-scale-chromatic";
import { collapsedSeries, nearestPoint, orderColors, pathExtent, pcLabel, plotScale, showRandomWalkNote } from "../src/pathplot";

const M = { left: 50, right: 10, top: 10, bottom: 40 };

test("pathExtent pads the box of finite points and skips nulls", () => {
  const ext = pathExtent([{ x: [0, 10, null, NaN], y: [0, 5, 100, 1] }], 0.1)!;
  assert.deepEqual(ext, { x0: -1, x1: 11, y0: -0.5, y1: 5.5 });
  assert.equal(pathExtent([{ x: [null], y: [1] }]), null);
  assert.equal(pathExtent([]), null);
  // One point: a box around it, never zero-sized.
  assert.deepEqual(pathExtent([{ x: [2], y: [0] }]), { x0: 1, x1: 3, y0: -0.5, y1: 0.5 });
});

test("plotScale: equal units on both axes, y up, data inside the plot area", () => {
  const ext = { x0: 0, x1: 10, y0: 0, y1: 2 };
  const sc = plotScale(ext, 400, 300, M);
  const [ax, ay] = sc.toPx(0, 0);
  const [bx, by] = sc.toPx(1, 1);
  assert.ok(Math.abs(bx - ax - (ay - by)) < 1e-9, "same pixels per unit on x and y");
  assert.ok(by < ay, "larger y is higher on screen");
  for (const [x, y] of [[0, 0], [10, 2], [5, 1]]) {
    const [px, py] = sc.toPx(x, y);
    assert.ok(px >= M.left - 1e-9 && px <= 400 - M.right + 1e-9, `x ${px}`);
    assert.ok(py >= M.top - 1e-9 && py <= 300 - M.bottom + 1e-9, `y ${py}`);
  }
  // The wide axis fills its side exactly.
  assert.ok(Math.abs(sc.toPx(10, 0)[0] - sc.toPx(0, 0)[0] - (400 - M.left - M.right)) < 1e-9);
  assert.ok(sc.shown.y0 <= 0 && sc.shown.y1 >= 2);
});

test("ticks are round values inside the shown box, never -0", () => {
  const sc = plotScale({ x0: -0.43, x1: 0.41, y0: -0.43, y1: 0.41 }, 300, 300, { left: 0, right: 0, top: 0, bottom: 0 });
  assert.deepEqual(sc.xTicks(4), [-0.4, -0.2, 0, 0.2, 0.4]);
  assert.ok(sc.yTicks(4).every((t) => !Object.is(t, -0)));
  const wide = plotScale({ x0: -17.3, x1: 1234.5, y0: 0, y1: 1 }, 600, 300, M);
  const t = wide.xTicks(6);
  assert.ok(t.length >= 4 && t.length <= 14);
  assert.ok(t.every((v) => v >= wide.shown.x0 && v <= wide.shown.x1));
});

test("points are coloured by step order, start to end of viridis", () => {
  const c = orderColors(5, interpolateViridis);
  assert.equal(c.length, 5);
  assert.equal(c[0], interpolateViridis(0));
  assert.equal(c[4], interpolateViridis(1));
  assert.equal(c[2], interpolateViridis(0.5));
  assert.deepEqual(orderColors(1, interpolateViridis), [interpolateViridis(1)]);
  assert.deepEqual(orderColors(0, interpolateViridis), []);
});

test("axis labels carry explained variance; random-walk note when PC1 dominates", () => {
  assert.equal(pcLabel(0, [0.873, 0.1]), "PC1 (87.3%)");
  assert.equal(pcLabel(1, [0.873, 0.1]), "PC2 (10.0%)");
  assert.equal(pcLabel(1, [0.9]), "PC2");
  assert.equal(pcLabel(0, [0.99996]), "PC1 (99.9%)");
  assert.equal(pcLabel(0, [1]), "PC1 (100.0%)");
  assert.equal(showRandomWalkNote([0.95, 0.03]), true);
  assert.equal(showRandomWalkNote([0.5, 0.3]), false);
  assert.equal(showRandomWalkNote([]), false);
});

test("nearestPoint finds the closest point within the radius", () => {
  const pts: [number, number, number, number][] = [
    [0, 0, 10, 10],
    [0, 1, 50, 50],
    [1, 0, 52, 50],
  ];
  assert.deepEqual(nearestPoint(pts, 53, 50), { series: 1, index: 0 });
  assert.deepEqual(nearestPoint(pts, 12, 9), { series: 0, index: 0 });
  assert.equal(nearestPoint(pts, 200, 200), null);
});

test("collapsedSeries lists runs that shrink to a dot in joint axes", () => {
  assert.deepEqual(collapsedSeries([{ x: [0, 100], y: [0, 50] }, { x: [1, 1.2], y: [0, 0.1] }]), [1]);
  assert.deepEqual(collapsedSeries([{ x: [0, 100], y: [0, 50] }, { x: [1, 30], y: [0, 0.1] }]), []);
  assert.deepEqual(collapsedSeries([{ x: [0, 100], y: [0, 50] }]), []);
  assert.deepEqual(collapsedSeries([{ x: [0, 100], y: [0, 50] }, { x: [null], y: [null] }, { x: [5], y: [5] }]), [2]);
  assert.deepEqual(collapsedSeries([{ x: [1], y: [1] }, { x: [1], y: [1] }]), []);
});
