import assert from "node:assert/strict";
import { test } from "node:test";
import { layerRows, layerType } from "../src/model/layerstats";
import type { OverviewRow } from "../src/data/types";

const row = (name: string, shape: number[], ratio: number | null, grad: number | null = null): OverviewRow => ({
  name,
  layer: name.slice(0, name.lastIndexOf("/")),
  shape,
  parameters: shape.reduce((a, b) => a * b, 1),
  step: 10,
  update_ratio: ratio === null ? null : ratio * 10,
  update_ratio_per_step: ratio,
  update_steps: 10,
  grad_ratio: grad,
  norm: 1,
  nonfinite: 0,
});

test("layers in the rows' order, with type, shapes, parameters and the kernel's ratio", () => {
  const rows = [row("m/d1/kernel", [4, 3], 1e-3, 0.2), row("m/d1/bias", [3], 0.05, 3), row("m/c/kernel", [3, 3, 1, 2], 0), row("m/c/bias", [2], 0)];
  const got = layerRows(rows, { "m/d1/kernel": { description: "Dense weight kernel" }, "m/c/bias": { description: "Conv2D weight bias" } });
  assert.deepEqual(got, [
    { layer: "m/d1", type: "Dense", shapes: [[4, 3], [3]], parameters: 15, ratio: 1e-3, ratioSteps: 10, gradRatio: 0.2, depth: 1 },
    { layer: "m/c", type: "Conv2D", shapes: [[3, 3, 1, 2], [2]], parameters: 20, ratio: 0, ratioSteps: 10, gradRatio: null, depth: 2 },
  ]);
});

test("layer types come from the description's first word only", () => {
  assert.equal(layerType("Dense weight kernel"), "Dense");
  assert.equal(layerType("weights of my net"), "");
  assert.equal(layerType(undefined), "");
});
