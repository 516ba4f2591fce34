import assert from "node:assert/strict";
import { test } from "node:test";
import type { ActivationLayer, Activations } from "../src/data/types";
import { SECOND_DASH, activationHeading, hasActivationTensors, activationSeries, inputSummary, isActivationTag, layerActivations, runVersion } from "../src/model/activations";

const relu: ActivationLayer = {
  layer: "relu",
  kind: "relu",
  order: 1,
  step: [1, 2, 4],
  dead_fraction: [0.25, 0.375, 0.375],
  zero_fraction: [0.5, 0.6, 0.6],
  saturated_fraction: [null, null, null],
  mean: [0.2, 0.21, 0.22],
  std: [0.3, 0.31, null],
};
const tanh: ActivationLayer = { layer: "relu", kind: "tanh", order: 1, step: [2, 6], dead_fraction: [0, 0], saturated_fraction: [0.1, 0.4], mean: [0, 0.1], std: [0.5, 0.9] };
const resp: Activations = {
  run: "a",
  layers: [{ layer: "input", kind: "input", order: 0, step: [1], mean: [0], std: [1] }, relu],
  run_info: null,
  errors: [],
};

test("activation tensors and their heading", () => {
  assert.ok(isActivationTag("relu/activations"));
  assert.ok(isActivationTag("layer1.0.relu/activations"));
  assert.ok(!isActivationTag("relu/weight"));
  assert.equal(activationHeading([8, 16], 12), "activations: 8 samples × 16 units at step 12");
  assert.equal(activationHeading([1, 4, 3, 3], null), "activations: 1 sample × 36 units");
});

test("a layer's statistics: by name, never the input's", () => {
  assert.equal(layerActivations(resp, "relu"), relu);
  assert.equal(layerActivations(resp, "input"), null);
  assert.equal(layerActivations(resp, "out"), null);
  assert.equal(layerActivations(null, "relu"), null);
});

test("the run's data version counts logged steps", () => {
  assert.equal(runVersion({ "a/w": { steps: [0, 10], trajectory_steps: 3 }, "a/b": { steps: [0] } }), 6);
  assert.equal(runVersion(undefined), 0);
  assert.ok(hasActivationTensors({ "relu/activations": {}, "a/w": {} }));
  assert.ok(!hasActivationTensors({ "a/w": {} }) && !hasActivationTensors(undefined));
});

test("series: statistics some run logged, run-named labels with several runs", () => {
  const one = activationSeries([{ run: "a", color: "#111", layer: relu }], false);
  assert.deepEqual(one.fraction.series.map((s) => s.label), ["dead"], "saturated is all null: not drawn");
  assert.deepEqual(one.fraction.parts, [{ x: [1, 2, 4], y: [0.25, 0.375, 0.375] }]);
  assert.deepEqual(one.moments.series.map((s) => [s.label, s.dash]), [["mean", undefined], ["std", SECOND_DASH]]);
  assert.deepEqual(one.moments.series[1].key, { run: "a", stat: "std" });
  const two = activationSeries([{ run: "a", color: "#111", layer: relu }, { run: "b", color: "#222", layer: tanh }], true);
  assert.deepEqual(two.fraction.series.map((s) => s.label), ["a · dead", "b · dead", "b · saturated"]);
  assert.deepEqual(two.fraction.series.map((s) => s.color), ["#111", "#222", "#222"]);
  assert.deepEqual(activationSeries([], true).moments, { parts: [], series: [] });
});

test("inputSummary states the input's latest statistics, and nothing for a run without them", () => {
  const input: ActivationLayer = { layer: "input", kind: "input", order: 0, step: [0, 40], mean: [0, 0.5], std: [1, 30], min: [-1, -98], max: [1, 104], nan_count: [0, 0] };
  const resp: Activations = { run: "r", layers: [input, relu], run_info: null, errors: [] };
  assert.deepEqual(inputSummary(resp), { step: 40, text: "model input at step 40: mean 0.5 · std 30 · range -98 to 104" });
  assert.equal(inputSummary({ ...resp, layers: [{ ...input, std: [1, null], nan_count: [0, 3] }] })?.text, "model input at step 40: mean 0.5 · std – · range -98 to 104 · 3 NaN/Inf");
  assert.equal(inputSummary({ ...resp, layers: [relu] }), null);
  assert.equal(inputSummary(null), null);
});
