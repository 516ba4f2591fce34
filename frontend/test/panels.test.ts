import assert from "node:assert/strict";
import { test } from "node:test";
import { tensorBoardUrl } from "../src/api";
import { groupTags, keepRuns } from "../src/app";
import { nextStepIndex } from "../src/card";
import { RangeTracker, chooseRange, rangeKey } from "../src/colorrange";
import { gateSpans } from "../src/heatmap";
import { formatCount, totalParameters } from "../src/overview";
import type { TagInfo } from "../src/types";

test("the Graphs link points at TensorBoard's root, path prefix kept", () => {
  assert.equal(tensorBoardUrl("graphs", "http://h:6006/data/plugin/nnviz/"), "http://h:6006/#graphs");
  assert.equal(tensorBoardUrl("graphs", "http://h:6006/p/q/data/plugin/nnviz/"), "http://h:6006/p/q/#graphs");
  assert.equal(tensorBoardUrl("graphs", "http://h/experiment/abc/data/plugin/nnviz/?x=1"), "http://h/experiment/abc/#graphs");
});

test("overview counts", () => {
  assert.equal(formatCount(55050), "55,050");
  assert.equal(formatCount(1234567), "1,234,567");
  assert.equal(formatCount(12), "12");
  assert.equal(formatCount(null), "–");
  assert.equal(totalParameters([{ parameters: 2 }, { parameters: 3 }, { parameters: NaN }]), 5);
});

test("run selection survives reloads; groups merge runs in server order", () => {
  assert.deepEqual(keepRuns(["a", "b", "c"], ["c", "x", "a"]), ["a", "c"]);
  assert.deepEqual(keepRuns(["a", "b"], ["x"]), ["a"]);
  assert.deepEqual(keepRuns([], ["x"]), []);
  const i = (group: string) => ({ group }) as TagInfo;
  const g = groupTags({ a: { "d/k": i("d"), "d/b": i("d") }, b: { "e/k": i("e"), "d/k": i("d") } }, ["a", "b"]);
  assert.deepEqual([...g.entries()], [["d", ["d/k", "d/b"]], ["e", ["e/k"]]]);
});

test("playback loops over the steps", () => {
  assert.equal(nextStepIndex(0, 3), 1);
  assert.equal(nextStepIndex(2, 3), 0);
  assert.equal(nextStepIndex(-1, 3), 0);
  assert.equal(nextStepIndex(0, 0), 0);
});

test("colour range modes: per step, fixed over seen steps, shared across a layer", () => {
  const t = new RangeTracker();
  const a = rangeKey("r", "d/k", "none");
  const b = rangeKey("r", "d/b", "none");
  const grew: string[] = [];
  const off = t.subscribe((k) => grew.push(k));
  t.note(a, 0, 0.5);
  t.note(a, 10, 0.8);
  t.note(a, 20, 0.6);
  t.note(b, 0, 2);
  t.note(a, 20, NaN);
  assert.deepEqual(grew, [a, a, b]);
  off();
  assert.equal(t.max([a]), 0.8);
  assert.equal(t.max([a, b]), 2);
  assert.equal(t.max([rangeKey("r", "d/k", "prev")]), null);
  assert.equal(t.count([a]), 3);
  assert.deepEqual(chooseRange("step", 0.6, t, [a], 3), { m: 0.6, note: "" });
  assert.deepEqual(chooseRange("fixed", 0.6, t, [a], 3), { m: 0.8, note: "range over all 3 steps" });
  const partial = chooseRange("fixed", 0.6, t, [a], 20);
  assert.equal(partial.m, 0.8);
  assert.match(partial.note, /3 of 20 steps seen so far/);
  assert.equal(chooseRange("layer", 0.6, t, [a, b], 40).m, 2);
  t.reset();
  assert.equal(t.max([a]), null);
});

test("gate blocks split the stored columns, pooling included", () => {
  const info = { gates: ["i", "f", "c", "o"], grid: [32, 128] as [number, number], pool: [1, 1] as [number, number] };
  assert.deepEqual(gateSpans(info, 128), [["i", 0, 32], ["f", 32, 64], ["c", 64, 96], ["o", 96, 128]]);
  assert.deepEqual(gateSpans({ ...info, pool: [1, 4] }, 32).map((s) => s.slice(1)), [[0, 8], [8, 16], [16, 24], [24, 32]]);
  assert.deepEqual(gateSpans({ ...info, gates: null }, 128), []);
  assert.deepEqual(gateSpans({ ...info, gates: ["a", "b", "c"] }, 128), [], "columns not divisible by the gates");
});
