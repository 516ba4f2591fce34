import assert from "node:assert/strict";
import { test } from "node:test";
import { seriesLast } from "../src/views/chart";
import { randomWalkNote, smallPlotWidth } from "../src/views/projection";

test("per-run path plots share the width, within bounds", () => {
  assert.equal(smallPlotWidth(3, 1300), 420);
  assert.equal(smallPlotWidth(3, 900), 292);
  assert.equal(smallPlotWidth(5, 600), 240);
  assert.equal(smallPlotWidth(5, 1320), 254);
  assert.equal(smallPlotWidth(1, 300), 300);
  assert.equal(smallPlotWidth(0, 300), 300);
});

test("the random-walk caveat names the plots with a high PC1 share", () => {
  assert.equal(randomWalkNote([["", 0.5]]), null);
  assert.equal(randomWalkNote([]), null);
  assert.equal(randomWalkNote([["a", undefined]]), null);
  assert.match(randomWalkNote([["", 0.9]])!, /^PC1 explains 90\.0% of the variance\. A random walk/);
  assert.match(randomWalkNote([["a", 0.95], ["b", 0.5], ["c", 0.8]])!, /^PC1 explains 95\.0% \(a\), 80\.0% \(c\) of the variance\./);
});

test("data-series-last: the last non-null value per series, with its key fields", () => {
  assert.deepEqual(
    seriesLast([
      { label: "a", color: "#000", values: [1, 2, null], key: { run: "r", tag: "t" } },
      { label: "b", color: "#000", values: [null, null] },
      { label: "c", color: "#000", values: [] },
    ]),
    [
      { label: "a", run: "r", tag: "t", last: 2 },
      { label: "b", last: null },
      { label: "c", last: null },
    ],
  );
});
