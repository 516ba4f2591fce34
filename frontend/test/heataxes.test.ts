import assert from "node:assert/strict";
import { test } from "node:test";
import { describeCell, layerLabel, moduleLabel, tensorSubtitle } from "../src/model/describe";
import { heatAxes } from "../src/model/heataxes";
import type { Heatmap, Layout, TagInfo } from "../src/data/types";
import { header } from "./helpers";

const axes = (shape: number[], layout: Layout, gates: string[] | null = null, description = "") => heatAxes({ shape, layout, gates, description });

test("matrices: inputs down, units across, whatever the framework's axis order", () => {
  const keras = axes([64, 32], { kind: "matrix", rows: [0], cols: [1] });
  assert.deepEqual([keras?.rows, keras?.rowsShort, keras?.cols, keras?.tiles], ["inputs (64)", "in (64)", "units (32)", null]);
  assert.match(keras!.title, /axis 0.*axis 1/);
  // PyTorch's Linear(20 -> 32).weight is (32, 20), drawn transposed.
  const torch = axes([32, 20], { kind: "transposed", rows: [1], cols: [0] });
  assert.deepEqual([torch?.rows, torch?.cols], ["inputs (20)", "units (32)"]);
  assert.match(torch!.title, /axis 1.*axis 0.*transposed/);
  // Gated: LSTM i f g o, attention q k v.
  assert.equal(axes([20, 12], { kind: "transposed", rows: [1], cols: [0] }, ["i", "f", "g", "o"])?.cols, "units (4 × 5: i f g o)");
  assert.equal(axes([8, 24], { kind: "matrix", rows: [0], cols: [1] }, ["q", "k", "v"])?.cols, "units (3 × 8: q k v)");
});

test("vectors are 1 × n, one cell per unit", () => {
  const bias = axes([32], { kind: "vector", rows: [], cols: [0] });
  assert.deepEqual([bias?.rows, bias?.cols, bias?.tiles], [null, "1 × 32: one per unit", null]);
  assert.equal(axes([20], { kind: "vector", rows: [], cols: [0] }, ["i", "f", "g", "o"])?.cols, "1 × 20: units (4 × 5: i f g o)");
});

test("conv kernels: kernel tiles, in-channels down, out-channels across", () => {
  const tiles = "3 × 3 tiles (kh × kw), one per in/out channel pair";
  const keras = axes([3, 3, 8, 16], { kind: "conv", rows: [2, 0], cols: [3, 1] });
  assert.deepEqual([keras?.rows, keras?.cols, keras?.tiles], ["in-channels (8)", "out-channels (16)", tiles]);
  const torch = axes([16, 8, 3, 3], { kind: "conv_first", rows: [1, 2], cols: [0, 3] });
  assert.deepEqual([torch?.rows, torch?.cols, torch?.tiles], ["in-channels (8)", "out-channels (16)", tiles]);
  // A transposed convolution's kernel holds its out-channels where a convolution's has its in-channels.
  const up = axes([4, 8, 3, 3], { kind: "conv_first", rows: [1, 2], cols: [0, 3] }, null, "ConvTranspose2d(4 -> 8, 3x3) weight");
  assert.deepEqual([up?.rows, up?.rowsShort, up?.cols], ["out-channels (8)", "out (8)", "in-channels (4)"]);
  assert.equal(axes([3, 3, 8, 4], { kind: "conv", rows: [2, 0], cols: [3, 1] }, null, "Conv2DTranspose kernel")?.rows, "out-channels (8)");
  // Conv1D (kw, in, out) and Conv3D (kd, kh, kw, in, out).
  assert.equal(axes([5, 2, 4], { kind: "conv", rows: [1], cols: [2, 0] })?.tiles, "1 × 5 tiles (kw), one per in/out channel pair");
  assert.equal(axes([2, 3, 3, 2, 4], { kind: "conv", rows: [3, 0, 1], cols: [4, 2] })?.tiles, "6 × 3 tiles (kd·kh × kw), one per in/out channel pair");
});

test("other layouts name the tensor axes; a layout that does not fit gives nothing", () => {
  const q = axes([8, 2, 4], { kind: "split", rows: [0], cols: [1, 2] });
  assert.deepEqual([q?.rows, q?.rowsShort, q?.cols], ["axis 0 (8)", "axis 0", "axes 1, 2 (2 × 4)"]);
  const out = axes([2, 4, 8], { kind: "split", rows: [0, 1], cols: [2] });
  assert.deepEqual([out?.rows, out?.cols], ["axes 0, 1 (2 × 4)", "axis 2 (8)"]);
  assert.equal(axes([3], { kind: "matrix", rows: [0], cols: [1] }), null);
  const gru = axes([2, 12], { kind: "matrix", rows: [0], cols: [1] }, ["z", "r", "h"], "GRUCell bias");
  assert.deepEqual([gru?.rows, gru?.cols], ["axis 0 (2)", "axis 1 (12) by gate"]);
});

test("the module label is the description up to its last space, when that ends with the tensor's name", () => {
  assert.equal(moduleLabel("0/weight", "Linear(20 -> 32) weight"), "Linear(20 -> 32)");
  assert.equal(moduleLabel("mlp/dense_1/kernel", "Dense kernel"), "Dense");
  assert.equal(moduleLabel("lstm/weight_ih_l0", "LSTM(6 -> 5) weight_ih_l0"), "LSTM(6 -> 5)");
  assert.equal(moduleLabel("d/kernel_2", "Dense kernel"), "Dense"); // Keras' unique suffix
  // An activation heatmap names the module whose output it draws.
  assert.equal(moduleLabel("d/activations", "Dense output (first 32 samples down, units across) activations"), "Dense");
  assert.equal(moduleLabel("d/kernel", "my favourite layer"), "");
  assert.equal(moduleLabel("d/kernel", "kernel"), "");
  assert.equal(moduleLabel("d/kernel", undefined), "");
});

test("a layer's heading label leaves out what its name says", () => {
  assert.equal(layerLabel("0", ["Linear(20 -> 32)", "Linear(20 -> 32)"]), "Linear(20 -> 32)");
  assert.equal(layerLabel("mlp/dense_1", ["Dense", "Dense"]), "");
  assert.equal(layerLabel("conv2d_1", ["Conv2D"]), "");
  assert.equal(layerLabel("lstm/lstm_cell", ["LSTMCell"]), "");
  assert.equal(layerLabel("cnn/conv_2", ["Conv2D"]), "Conv2D");
  assert.equal(layerLabel("0", ["Linear(20 -> 32)", "", "Linear(20 -> 64)"]), "Linear(20 -> 32) / Linear(20 -> 64)");
  assert.equal(layerLabel("free", ["", ""]), "");
});

test("a pooled conv kernel's caption says a cell is a block mean, not a tile", () => {
  const layout: Layout = { kind: "conv_first", rows: [1, 2], cols: [0, 3] };
  const pooled = heatAxes({ shape: [64, 64, 3, 3], layout, gates: null, pool: [2, 4] });
  assert.equal(pooled?.tiles, "3 × 3 tiles (kh × kw) pooled 2×4: each cell is the mean of a 2 × 4 block of the tile grid; hover shows the block");
  assert.match(pooled!.title, /Pooled 2×4: each cell is the mean of a 2 × 4 block/);
  // A block of exactly one tile: a cell is a channel pair's mean.
  assert.equal(heatAxes({ shape: [64, 64, 3, 3], layout, gates: null, pool: [3, 3] })?.tiles,
    "pooled by whole tiles: each cell: mean of one tile (one in/out channel pair, 3×3 tiles); hover shows the block");
  assert.doesNotMatch(pooled!.tiles!, /one per in\/out channel pair/);
  const plain = heatAxes({ shape: [64, 64, 3, 3], layout, gates: null, pool: [1, 1] });
  assert.equal(plain?.tiles, "3 × 3 tiles (kh × kw), one per in/out channel pair");
  assert.doesNotMatch(plain!.title, /Pooled/);
});

test("a conv kernel pooled by whole tiles names its block in channel pairs and tiles", () => {
  const keras: Layout = { kind: "conv", rows: [2, 0], cols: [3, 1] };
  const conv4 = heatAxes({ shape: [3, 3, 256, 256], layout: keras, gates: null, pool: [24, 24] });
  assert.equal(conv4?.tiles, "pooled by whole tiles: each cell: mean of 8×8 channel pairs (3×3 tiles); hover shows the block");
  assert.match(conv4!.title, /Pooled 24×24: each cell: mean of 8×8 channel pairs \(3×3 tiles\)/);
  assert.equal(conv4?.rows, "in-channels (256)");
  const first: Layout = { kind: "conv_first", rows: [1, 2], cols: [0, 3] };
  assert.equal(heatAxes({ shape: [128, 64, 3, 3], layout: first, gates: null, pool: [3, 9] })?.tiles,
    "pooled by whole tiles: each cell: mean of 1×3 channel pairs (3×3 tiles); hover shows the block");
  // 1x1 kernels and matrices have no tiles: nothing about tiles.
  assert.equal(heatAxes({ shape: [2048, 10], layout: { kind: "matrix", rows: [0], cols: [1] }, gates: null, pool: [18, 1] })?.tiles, null);
});

test("the hover of a cell pooled by whole tiles shows its channel ranges and tensor index range", () => {
  const layout: Layout = { kind: "conv", rows: [2, 0], cols: [3, 1] };
  const info = {
    kind: "heatmap", shape: [3, 3, 256, 256], dtype: "float32", layout, grid: [768, 768], pool: [24, 24],
    planes: ["mean", "absmax"], gates: null, steps: [0],
  } as unknown as TagInfo;
  const n = 32 * 32;
  const hm: Heatmap = {
    header: header({ shape: [2, 32, 32], planes: ["mean", "absmax"] }),
    planes: [new Float32Array(n).fill(0.5), new Float32Array(n).fill(-2)],
    rows: 32, cols: 32,
  };
  const d = describeCell(info, hm, 1, 31);
  assert.equal(d.block, "in 8–15 × out 248–255 (whole 3×3 tiles; rows 24–47, cols 744–767)");
  assert.equal(d.index, "[0, 0, 8, 248] … [2, 2, 15, 255]");
  assert.equal(d.absmax, "-2");
  assert.match(tensorSubtitle(info), /grid 768×768 pooled 24×24 → 32×32 \(each cell: mean of 8×8 channel pairs, 3×3 tiles\)/);
});

test("activation heatmaps: samples down, units across", () => {
  const a = heatAxes({ shape: [8, 16], layout: { kind: "matrix", rows: [0], cols: [1] }, gates: null, description: "ReLU output (first 8 samples down, units across) activations" });
  assert.equal(a?.rows, "samples (8)");
  assert.equal(a?.cols, "units (16)");
});
