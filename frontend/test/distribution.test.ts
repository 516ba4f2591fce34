import assert from "node:assert/strict";
import { test } from "node:test";
import { QUANTILES, distributionSeries, withAlpha } from "../src/model/distribution";
import type { Trajectory } from "../src/data/types";

function traj(run: string): Trajectory {
  const t: Trajectory = { run, tag: "d/k", step: [0, 10], wall_time: [0, 1] };
  QUANTILES.forEach(([f], k) => (t[f] = [k, k + 1]));
  return t;
}

test("each run gets seven lines and two bands in its colour", () => {
  const d = distributionSeries(
    [
      { run: "a", color: "#1f77b4", trajectory: traj("a") },
      { run: "b", color: "#ff7f0e", trajectory: traj("b") },
    ],
    true,
  );
  assert.equal(d.series.length, 14);
  assert.deepEqual(d.series.slice(0, 7).map((s) => s.label), ["a · min", "a · q05", "a · q25", "a · median", "a · q75", "a · q95", "a · max"]);
  assert.equal(d.series[3].color, "#1f77b4");
  // Bands: q05..q95 and q25..q75, upper first, of each run.
  assert.deepEqual(d.bands.map(([hi, lo]) => [d.series[hi].label, d.series[lo].label]), [
    ["a · q95", "a · q05"],
    ["a · q75", "a · q25"],
    ["b · q95", "b · q05"],
    ["b · q75", "b · q25"],
  ]);
  assert.deepEqual(d.parts[1].y, [1, 2]);
});

test("runs without quantiles are skipped; colours get an alpha", () => {
  const bare: Trajectory = { run: "c", tag: "d/k", step: [0], wall_time: [0] };
  assert.equal(distributionSeries([{ run: "c", color: "#000", trajectory: bare }], false).series.length, 0);
  assert.equal(withAlpha("#1f77b4", 0.5), "rgba(31, 119, 180, 0.5)");
});
