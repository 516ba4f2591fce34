import assert from "node:assert/strict";
import { test } from "node:test";
import { HEALTHY_BAND, alignSeries, bandRect, logRange, logValues, maxPerInterval, zeroFloor, ratioHealth, runColor, symlogThreshold, tensorDash } from "../src/model/series";

test("alignSeries puts runs with different steps on one axis; NaN/Inf/null are gaps", () => {
  const { x, ys } = alignSeries([
    { x: [0, 10, 20], y: [1, null, 3] },
    { x: [10, 30], y: [NaN, 5] },
    { x: [], y: [] },
  ]);
  assert.deepEqual(x, [0, 10, 20, 30]);
  assert.deepEqual(ys, [[1, null, 3, null], [null, null, null, 5], [null, null, null, null]]);
  assert.deepEqual(alignSeries([]), { x: [], ys: [] });
});

test("log-axis values: only finite positive numbers survive", () => {
  assert.deepEqual(logValues([1, 0, -1, null, NaN, Infinity, undefined, 1e-9], null), [1, null, null, null, null, null, null, 1e-9]);
  // Exact zeros: a point at the floor, one decade under the smallest value, never a gap.
  assert.deepEqual(logValues([3e-3, 0, -1], 1e-4), [3e-3, 1e-4, null]);
  assert.equal(zeroFloor([[0, 3e-3, 0.2]]), 1e-4);
  assert.equal(zeroFloor([[0, 3e-3]], [1e-4, 1e-2]), 1e-5);
  assert.equal(zeroFloor([[1e-3, null]]), null);
  assert.equal(zeroFloor([[0, null]]), 0.01);
});

test("logRange covers the data and the band in whole decades", () => {
  assert.deepEqual(logRange(2e-4, 0.3), [1e-4, 1]);
  assert.deepEqual(logRange(0.5, 30), [0.1, 100]);
  assert.deepEqual(logRange(5e-3, 6e-3, HEALTHY_BAND), [1e-4, 1e-2]);
  assert.deepEqual(logRange(0.2, 0.5, HEALTHY_BAND), [1e-4, 1]);
  assert.deepEqual(logRange(null, null, HEALTHY_BAND), [1e-4, 1e-2]);
  assert.deepEqual(logRange(null, null), [0.1, 10]);
  assert.deepEqual(logRange(NaN, -3), [0.1, 10]);
  assert.deepEqual(logRange(1e-3, 1e-3), [1e-4, 1e-2], "a lone power of ten is centred");
  const [lo, hi] = logRange(3e-7, 4e-7);
  assert.ok(lo <= 3e-7 && hi >= 4e-7 && hi / lo >= 10);
});

test("bandRect clips the band to the plot area", () => {
  assert.deepEqual(bandRect(40, 120, 0, 100), { y: 40, h: 60 });
  assert.deepEqual(bandRect(120, 40, 0, 100), { y: 40, h: 60 });
  assert.deepEqual(bandRect(20, 60, 10, 100), { y: 20, h: 40 });
  assert.equal(bandRect(-50, -10, 0, 100), null);
  assert.equal(bandRect(200, 300, 0, 100), null);
  assert.equal(bandRect(NaN, 10, 0, 100), null);
});

test("ratio health against the 1e-4..1e-2 band", () => {
  assert.equal(ratioHealth(1e-3), "ok");
  assert.equal(ratioHealth(1e-5), "tiny");
  assert.equal(ratioHealth(0.2), "large");
  assert.equal(ratioHealth(0), "stopped");
  assert.equal(ratioHealth(5e-324), "tiny");
  assert.equal(ratioHealth(null), null);
  assert.equal(ratioHealth(NaN), null);
});

test("run colours cycle; tensors get distinct dashes", () => {
  assert.equal(runColor(0), runColor(10));
  assert.notEqual(runColor(0), runColor(1));
  assert.deepEqual(tensorDash(0), []);
  assert.notDeepEqual(tensorDash(1), tensorDash(0));
});

test("y tick labels are thinned from the bottom so none collide", async () => {
  const { thinLabels } = await import("../src/model/series");
  assert.deepEqual(thinLabels([100, 95, 90, 60, 10], ["0", "1e-5", "1e-4", "1e-3", "1"], 14), ["0", "", "", "1e-3", "1"]);
  assert.deepEqual(thinLabels([50, 30], ["", "x"], 14), ["", "x"]);
});

test("the band has one wording, per step", async () => {
  const { HEALTHY_LABEL, HEALTH, perStepNote } = await import("../src/model/series");
  assert.equal(HEALTHY_LABEL, `healthy: ${HEALTH.ok.rule}`);
  assert.match(HEALTH.large.rule, /per step/);
  assert.equal(perStepNote(20), "|dW|/|W| per step, averaged over the 20 steps between points");
});

test("symlog only when one series would flatten another", () => {
  assert.equal(symlogThreshold([[1, -2], [3e4, 1e5]]), 0.2);
  assert.equal(symlogThreshold([[1, 2], [3, 4]]), null);
  assert.equal(symlogThreshold([[null, 0], [5]]), null);
});

test("long series keep each interval's maximum", () => {
  assert.deepEqual(maxPerInterval([0, 1, 2, 3], [[1, 9, 2, null]], 2), { x: [1, 3], ys: [[9, 2]], from: [0, 2] });
  // Short series are drawn as they are.
  assert.deepEqual(maxPerInterval([0, 10], [[1, null]], 5), { x: [0, 10], ys: [[1, null]], from: [0, 10] });
  // 10,000 steps into 100 points: a one-step spike survives, at its interval, in every series.
  const x = Array.from({ length: 10000 }, (_, k) => k);
  const ratio = x.map((k) => (k === 4321 ? 6.3 : 1e-3));
  const other = x.map((k) => (k % 2 ? null : 2e-3));
  const d = maxPerInterval(x, [ratio, other], 100);
  assert.equal(d.x.length, 100);
  assert.equal(Math.max(...(d.ys[0] as number[])), 6.3);
  const at = d.ys[0].indexOf(6.3);
  assert.ok(d.from[at] <= 4321 && 4321 <= d.x[at]);
  assert.ok(d.ys[1].every((v) => v === 2e-3));
  // An interval with no value stays a gap; uneven steps (a geometric cadence) bucket by x.
  assert.deepEqual(maxPerInterval([0, 1, 2, 100], [[null, null, 5, 7]], 2), { x: [2, 100], ys: [[5, 7]], from: [0, 100] });
});
