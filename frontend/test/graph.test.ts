import assert from "node:assert/strict";
import { test } from "node:test";
import type { OverviewRow } from "../src/data/types";
import { type GraphNode, type GraphRecord, OPEN_ALL_MAX, healthAt, healthMapAt, initialClosed, itemFindings, itemHealth, itemLines, largestTensors, layerHealth, layoutGraph, nearestNode, seriesSteps, shapeText, sharedCalls, visibleGraph, withNameBlocks } from "../src/model/graph";
import { REPEAT_MIN, withRepeatBlocks } from "../src/model/graphrepeat";

const node = (name: string, parent: string | null = null, extra: Partial<GraphNode> = {}): GraphNode => ({
  name, layer: name, type: "Dense", parent, activation: null, inputs: [[null, 4]], outputs: [[null, 4]], dtype: "float32", params: 20, trainable: true, function: false, ...extra,
});

const record = (nodes: GraphNode[], edges: [string, string][], blocks: GraphRecord["blocks"] = []): GraphRecord => ({
  version: 1, framework: "torch", model: "Net", connections: "known", nodes, blocks, edges,
});

test("a closed block is one item for its nodes; edges run between drawn items, once, none inside one", () => {
  const g = record([node("a"), node("b", "blk"), node("c", "blk"), node("d")], [["a", "b"], ["b", "c"], ["a", "c"], ["c", "d"]], [{ name: "blk", type: "Seq", parent: null }]);
  const open = visibleGraph(g, new Set());
  assert.deepEqual(open.items.map((i) => i.id), ["a", "b", "c", "d"]);
  assert.deepEqual(open.clusters.map((c) => c.block.name), ["blk"]);
  const shut = visibleGraph(g, new Set(["blk"]));
  assert.deepEqual(shut.items.map((i) => [i.id, i.members.length]), [["a", 1], ["blk", 2], ["d", 1]]);
  assert.deepEqual(shut.edges, [["a", "blk"], ["blk", "d"]]);
  assert.deepEqual(shut.clusters, []);
});

test("the outermost closed block stands for nested ones; an open outer block frames a closed inner one", () => {
  const blocks = [{ name: "s", type: "Seq", parent: null }, { name: "s/0", type: "Block", parent: "s" }];
  const g = record([node("x"), node("s/0/a", "s/0"), node("s/0/b", "s/0")], [["x", "s/0/a"], ["s/0/a", "s/0/b"]], blocks);
  assert.deepEqual(visibleGraph(g, new Set(["s", "s/0"])).items.map((i) => i.id), ["x", "s"]);
  const inner = visibleGraph(g, new Set(["s/0"]));
  assert.deepEqual(inner.items.map((i) => [i.id, i.parent]), [["x", null], ["s/0", "s"]]);
  assert.deepEqual(inner.clusters.map((c) => c.block.name), ["s"]);
});

test("Keras applications get stages and blocks from their layer names; small or nested models do not", () => {
  const names = ["input", "conv1_conv"];
  for (const s of [2, 3]) for (const b of [1, 2]) for (const l of ["1_conv", "1_bn", "add"]) names.push(`conv${s}_block${b}_${l}`);
  while (names.length <= OPEN_ALL_MAX) names.push(`dense_${names.length}`);
  const g = withNameBlocks(record(names.map((n) => node(n)), []));
  assert.deepEqual(g.blocks.map((b) => [b.name, b.parent]), [["conv2", null], ["conv2_block1", "conv2"], ["conv2_block2", "conv2"], ["conv3", null], ["conv3_block1", "conv3"], ["conv3_block2", "conv3"]]);
  assert.equal(g.nodes.find((n) => n.name === "conv3_block2_add")!.parent, "conv3_block2");
  assert.equal(g.nodes.find((n) => n.name === "conv1_conv")!.parent, null);
  assert.equal(initialClosed(g).size, 6);
  const small = record([node("block1_conv"), node("block1_pool")], []);
  assert.equal(withNameBlocks(small), small);
  assert.equal(initialClosed(small).size, 0);
});

test("labels say what plot_model shows: name and type, shapes, activation, parameters, trainable", () => {
  const [item] = visibleGraph(record([node("dense_1", null, { activation: "relu", inputs: [[null, 64]], outputs: [[null, 64]], params: 4160 })], []), new Set()).items;
  assert.deepEqual(itemLines(item), ["dense_1 · Dense", "(None, 64) → (None, 64)", "relu · 4,160 params · trainable"]);
  const [frozen] = visibleGraph(record([node("f", null, { trainable: false, params: 0, inputs: [], outputs: [] })], []), new Set()).items;
  assert.deepEqual(itemLines(frozen), ["f · Dense", "frozen"]);
  assert.equal(shapeText([[2, 3], [null]]), "(2, 3), (None)");
  assert.equal(shapeText([[null, 4], [null, 4]]), "2× (None, 4)");
});

test("status: the structure view's ratio health per layer, NaN over it, a closed block its worst member's", () => {
  const row = (name: string, ratio: number | null, nonfinite = 0): OverviewRow => ({
    name, layer: name.slice(0, name.lastIndexOf("/")), shape: [4, 4], parameters: 16, step: 10, update_ratio: ratio, update_ratio_per_step: ratio, update_steps: 10, norm: 1, nonfinite,
  });
  const health = layerHealth([row("a/kernel", 1e-3), row("b/kernel", 0), row("c/kernel", null, 3)], {});
  assert.deepEqual([...health], [["a", "ok"], ["b", "stopped"], ["c", "nan"]]);
  const g = record([node("a", "blk"), node("b", "blk"), node("c")], [], [{ name: "blk", type: "Seq", parent: null }]);
  const items = visibleGraph(g, new Set(["blk"])).items;
  assert.deepEqual(items.map((i) => itemHealth(i, health)), ["stopped", "nan"]);
  const finding = { kind: "k", severity: "warning", layer: null, tensors: ["b/kernel"], step: 1, message: "m", evidence: null };
  assert.deepEqual(itemFindings(items[0], [finding]), [finding]);
  assert.deepEqual(itemFindings(items[1], [finding]), []);
});

test("dagre lays a residual block out top to bottom, the skip edge beside the main path", () => {
  const g = record([node("in"), node("conv"), node("bn"), node("add", null, { type: "add", function: true })], [["in", "conv"], ["conv", "bn"], ["bn", "add"], ["in", "add"]]);
  const lay = layoutGraph(visibleGraph(g, new Set()), () => ({ width: 100, height: 30 }));
  const y = (id: string) => lay.nodes.get(id)!.y;
  assert.ok(y("in") < y("conv") && y("conv") < y("bn") && y("bn") < y("add"));
  assert.equal(lay.edges.length, 4);
  assert.ok(lay.edges.every((e) => e.points.length >= 2));
  assert.ok(lay.width > 100 && lay.height > 4 * 30);
});

test("replaying: a layer's status at a step is its last point's; NaN where its norm is not finite", () => {
  const s = { steps: [0, 10, 20, 30], ratio: [null, 1e-3, 0, null], norm: [1, 1, 1, null] };
  assert.deepEqual([-1, 0, 5, 10, 25, 30].map((k) => healthAt(s, k)), [null, null, null, "ok", "stopped", "nan"]);
  const series = new Map([["a", s], ["b", { steps: [5, 15], ratio: [1, 1], norm: [1, 1] }]]);
  assert.deepEqual([...healthMapAt(series, 15)], [["a", "ok"], ["b", "large"]]);
  assert.deepEqual(seriesSteps(series), [0, 5, 10, 15, 20, 30]);
  const row = (name: string, parameters: number) => ({ name, layer: name.split("/")[0], shape: [parameters], parameters, step: 1, update_ratio: null, norm: 1, nonfinite: 0 });
  assert.deepEqual([...largestTensors([row("d/bias", 4), row("d/kernel", 16), row("e/w", 2)])], [["d", "d/kernel"], ["e", "e/w"]]);
});

test("a shared layer's calls are one box with both uses wired; a stateless module called twice keeps a box per call", () => {
  const shared = (name: string) => node(name, null, { layer: "shared" });
  const relu = (name: string) => node(name, null, { layer: "relu", type: "ReLU", params: 0 });
  const g = record([node("x"), shared("shared"), node("inner"), shared("shared:1"), relu("relu"), relu("relu:1")],
    [["x", "shared"], ["shared", "inner"], ["inner", "shared:1"], ["shared:1", "relu"], ["relu", "relu:1"]]);
  assert.deepEqual([...sharedCalls(g)], [["shared:1", "shared"]]);
  const vis = visibleGraph(g, new Set());
  assert.deepEqual(vis.items.map((i) => [i.id, i.members.length]), [["x", 1], ["shared", 2], ["inner", 1], ["relu", 1], ["relu:1", 1]]);
  assert.deepEqual(vis.edges, [["x", "shared"], ["shared", "inner"], ["inner", "shared"], ["shared", "relu"], ["relu", "relu:1"]]);
  assert.equal(itemLines(vis.items[1]).at(-1), "shared: 2 calls");
});

/** A chain input -> n alike blocks `layers/k` (attn, add) -> head. */
function blocks(n: number, odd: number | null = null): GraphRecord {
  const nodes = [node("input")];
  const edges: [string, string][] = [];
  let last = "input";
  for (let k = 0; k < n; k++) {
    nodes.push(node(`layers/${k}/attn`, `layers/${k}`), node(`layers/${k}/add`, `layers/${k}`, { type: k === odd ? "mul" : "add", function: true, params: 0 }));
    edges.push([last, `layers/${k}/attn`], [`layers/${k}/attn`, `layers/${k}/add`], [last, `layers/${k}/add`]);
    last = `layers/${k}/add`;
  }
  nodes.push(node("head"));
  edges.push([last, "head"]);
  return record(nodes, edges, [...Array(n).keys()].map((k) => ({ name: `layers/${k}`, type: "EncoderLayer", parent: null })));
}

test("REPEAT_MIN or more alike blocks in a row fold into one block; fewer, or unalike, do not", () => {
  const g = withRepeatBlocks(blocks(12));
  assert.deepEqual(g.blocks[0], { name: "layers/0…11", type: "12 × EncoderLayer", parent: null, derived: true, repeat: 12 });
  assert.ok(g.blocks.slice(1).every((b) => b.parent === "layers/0…11"));
  const shut = visibleGraph(g, new Set(["layers/0…11"]));
  assert.deepEqual(shut.items.map((i) => i.id), ["input", "layers/0…11", "head"]);
  assert.deepEqual(shut.edges, [["input", "layers/0…11"], ["layers/0…11", "head"]]);
  const few = blocks(REPEAT_MIN - 1);
  assert.equal(withRepeatBlocks(few), few);
  // Block 5 differs: 0..4 fold, 6..11 fold, 5 stays itself.
  assert.deepEqual(withRepeatBlocks(blocks(12, 5)).blocks.filter((b) => b.repeat).map((b) => b.name), ["layers/0…4", "layers/6…11"]);
});

test("a click's nearest layer with weights: its inputs' side first at each distance, then its outputs'", () => {
  const g = record([node("x", null, { params: 0 }), node("dense"), node("drop", null, { params: 0 }), node("add", null, { params: 0, function: true }), node("out")],
    [["x", "dense"], ["dense", "drop"], ["drop", "add"], ["x", "add"], ["add", "out"]]);
  const weighted = (n: GraphNode) => n.params > 0;
  assert.equal(nearestNode(g, "drop", weighted)?.name, "dense");
  assert.equal(nearestNode(g, "add", weighted)?.name, "out"); // distance 1: out; dense is 2 away
  assert.equal(nearestNode(g, "x", weighted)?.name, "dense");
  assert.equal(nearestNode(record([node("lone", null, { params: 0 })], []), "lone", weighted), null);
});

test("an open block's name is laid out in its frame, left of its first box and level with its top, off every box", () => {
  const g = blocks(2);
  const lay = layoutGraph(visibleGraph(g, new Set()), () => ({ width: 120, height: 30 }), () => ({ width: 90, height: 12 }));
  const hit = (a: { x: number; y: number; width: number; height: number }, b: typeof a) =>
    Math.abs(a.x - b.x) * 2 < a.width + b.width && Math.abs(a.y - b.y) * 2 < a.height + b.height;
  for (const k of [0, 1]) {
    const label = lay.labels.get(`layers/${k}`)!;
    const frame = lay.clusters.get(`layers/${k}`)!;
    const first = lay.nodes.get(`layers/${k}/attn`)!;
    assert.ok(label.x - label.width / 2 >= frame.x - frame.width / 2 && label.x + label.width / 2 <= first.x - first.width / 2);
    assert.equal(label.y - label.height / 2, first.y - first.height / 2);
    for (const box of lay.nodes.values()) assert.ok(!hit(label, box));
  }
});
