import assert from "node:assert/strict";
import { test } from "node:test";
import { brokenOfRow, brokenText, lastFinite, lastFiniteBefore, looksBroken } from "../src/model/broken";

test("the last finite value before NaN started, and that step", () => {
  assert.deepEqual(lastFinite([0, 1, 2, 3], [null, 1e-3, null, null], [1, 1.1, null, null]), { value: 1e-3, step: 1, nanStep: 2 });
  // A healthy run: the latest value, no NaN step.
  assert.deepEqual(lastFinite([0, 10], [null, 2e-3], [1, 1]), { value: 2e-3, step: 10, nanStep: null });
  // NaN from the first step: nothing finite.
  assert.deepEqual(lastFinite([0, 1], [null, null], [null, null]), { value: null, step: null, nanStep: 0 });
  // A NaN that went away again is not "from" anything.
  assert.equal(lastFinite([0, 1, 2], [null, null, 1e-3], [1, null, 1]).nanStep, null);
});

test("broken rows and their words", () => {
  assert.equal(looksBroken({ nonfinite: 3, norm: null }), true);
  assert.equal(looksBroken({ nonfinite: 0, norm: 1, update_ratio_per_step: null }), false);
  assert.equal(brokenText({ value: 1e-3, step: 1, nanStep: 2 }), "0.001/step at step 1 · \u2716\uFE0E NaN from step 2");
  assert.equal(brokenText({ value: null, step: null, nanStep: 0 }), "no finite ratio · \u2716\uFE0E NaN from step 0");
});

test("the overview route's broken fields", () => {
  assert.deepEqual(brokenOfRow({ nonfinite_from: 2, last_finite_ratio_per_step: 1e-3, last_finite_step: 1 }), { value: 1e-3, step: 1, nanStep: 2 });
  assert.deepEqual(brokenOfRow({ nonfinite_from: 0, last_finite_ratio_per_step: null, last_finite_step: null }), { value: null, step: null, nanStep: 0 });
  assert.equal(brokenOfRow({ nonfinite_from: null, last_finite_ratio_per_step: 1e-3, last_finite_step: 3 }), null);
  assert.equal(brokenOfRow({}), null);
});

test("the last heatmap with finite values before an all-NaN step", async () => {
  const finiteAt = new Set([0, 10]);
  const asked: number[] = [];
  const load = async (s: number) => {
    asked.push(s);
    return { step: s, finite: finiteAt.has(s) };
  };
  const r = await lastFiniteBefore([0, 10, 20, 30], 30, load, (d) => d.finite);
  assert.deepEqual(r, { found: { step: 10, finite: true }, step: 10, nanFrom: 20 });
  assert.deepEqual(asked, [20, 10]);
  // NaN from the first logged step: nothing to fall back to.
  assert.deepEqual(await lastFiniteBefore([0, 10], 10, async (s) => ({ s }), () => false), { found: null, step: null, nanFrom: 0 });
  // A superseded load gives up.
  assert.equal(await lastFiniteBefore([0, 10], 10, async () => undefined, () => true), undefined);
});
