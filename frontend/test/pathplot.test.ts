import assert from "node:assert/strict";
import { test } from "node:test";
import { interpolateViridis } from "d3-scale-chromatic";
import { collapsedSeries, equalAspect, finiteSegments, nearestPoint, orderColors, pathExtent, pathLength, pcLabel, scaleLines, showRandomWalkNote } from "../src/model/pathplot";

test("pathExtent pads the box of finite points and skips nulls", () => {
  const ext = pathExtent([{ x: [0, 10, null, NaN], y: [0, 5, 100, 1] }], 0.1)!;
  assert.deepEqual(ext, { x0: -1, x1: 11, y0: -0.5, y1: 5.5 });
  assert.equal(pathExtent([{ x: [null], y: [1] }]), null);
  assert.equal(pathExtent([]), null);
  // One point: a box around it, never zero-sized.
  assert.deepEqual(pathExtent([{ x: [2], y: [0] }]), { x0: 1, x1: 3, y0: -0.5, y1: 0.5 });
});

test("equalAspect: equal units on both axes, the data inside, the short side centred", () => {
  const ext = { x0: 0, x1: 10, y0: 0, y1: 2 };
  const box = equalAspect(ext, 340, 250);
  assert.ok(Math.abs((box.x1 - box.x0) / 340 - (box.y1 - box.y0) / 250) < 1e-12, "same units per pixel on x and y");
  assert.deepEqual([box.x0, box.x1], [0, 10]); // the wide axis fills its side exactly
  assert.ok(box.y0 <= 0 && box.y1 >= 2);
  assert.ok(Math.abs((box.y0 + box.y1) / 2 - 1) < 1e-12);
  assert.deepEqual(equalAspect(ext, 400, 200), { x0: 0, x1: 10, y0: -1.5, y1: 3.5 });
});

test("finiteSegments breaks a path at non-finite points", () => {
  assert.deepEqual(finiteSegments({ x: [0, 1, null, 3], y: [0, 1, 2, 3] }), [
    { x: [0, 1], y: [0, 1], index: [0, 1] },
    { x: [3], y: [3], index: [3] },
  ]);
  assert.deepEqual(finiteSegments({ x: [NaN], y: [1] }), []);
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

test("pathLength sums the drawn segments and skips the gaps at non-finite points", () => {
  assert.equal(pathLength({ x: [0, 3, 3], y: [0, 4, 5] }), 6);
  assert.equal(pathLength({ x: [0, 3, null, 10, 10], y: [0, 4, 0, 0, 2] }), 7);
  assert.equal(pathLength({ x: [1], y: [1] }), 0);
  assert.equal(pathLength({ x: [null], y: [1] }), null);
});

test("per-run scale lines: each run's path length, and how it compares with the longest", () => {
  assert.deepEqual(scaleLines(["a", "b", "c"], [3.2, 0.004, 3.1]), [
    "own scale · path length 3.2 (longest)",
    "own scale · path length 0.004 (800× shorter than a)",
    "own scale · path length 3.1 (about as long as a)",
  ]);
  assert.deepEqual(scaleLines(["a", "b"], [12345, 10]), ["own scale · path length 12345 (longest)", "own scale · path length 10 (1,235× shorter than a)"]);
  assert.deepEqual(scaleLines(["a", "b"], [1, 0.4]), ["own scale · path length 1 (longest)", "own scale · path length 0.4 (2.5× shorter than a)"]);
  assert.deepEqual(scaleLines(["a"], [2]), ["own scale · path length 2"]);
  assert.deepEqual(scaleLines(["a", "b"], [2, null]), ["own scale · path length 2", "own scale"]);
  assert.deepEqual(scaleLines(["a", "b"], [2, 0]), ["own scale · path length 2 (longest)", "own scale · path length 0 (a moved, this run did not)"]);
});
