import assert from "node:assert/strict";
import { test } from "node:test";
import { type GraphNode, type GraphRecord, visibleGraph } from "../src/model/graph";
import { clickAnchors, linkOf } from "../src/model/graphlinks";

const node = (name: string, extra: Partial<GraphNode> = {}): GraphNode => ({
  name, layer: name, type: "Linear", parent: null, activation: null, inputs: [], outputs: [], dtype: null, params: 20, trainable: true, function: false, ...extra,
});

// input -> a -> act (ReLU module) -> up -> add(up, act) -> c; relu:1 called again after c.
const g: GraphRecord = {
  version: 1, framework: "torch", model: "Branchy", connections: "known", blocks: [],
  nodes: [node("input", { type: "Input", params: 0, layer: "" }), node("a"), node("act", { type: "ReLU", params: 0 }), node("up"),
    node("add", { type: "add", params: 0, function: true, layer: "" }), node("c"), node("act:1", { type: "ReLU", params: 0, layer: "act" })],
  edges: [["input", "a"], ["a", "act"], ["act", "up"], ["up", "add"], ["act", "add"], ["add", "c"], ["c", "act:1"]],
};
const tags = { "a/weight": {}, "a/bias": {}, "up/weight": {}, "c/weight": {}, "act/activations": {} } as Record<string, { group?: string }>;

test("a click lands on the box's layer, else its activations, else the nearest layer with weights", () => {
  const anchors = clickAnchors(tags);
  assert.deepEqual([...anchors.weights], [["a", "a/weight"], ["up", "up/weight"], ["c", "c/weight"]]);
  assert.deepEqual(anchors.activations, ["act/activations"]);
  const items = new Map(visibleGraph(g, new Set()).items.map((i) => [i.id, i]));
  const land = (id: string) => linkOf(items.get(id)!, g, anchors);
  assert.deepEqual(land("up"), { tag: "up/weight", kind: "layer", via: null });
  assert.deepEqual(land("act"), { tag: "act/activations", kind: "activations", via: null });
  assert.deepEqual(land("act:1"), { tag: "act/activations", kind: "activations", via: null }); // its second call
  assert.deepEqual(land("add"), { tag: "up/weight", kind: "nearest", via: "up" });
  assert.deepEqual(land("input"), { tag: "a/weight", kind: "nearest", via: "a" });
  // A Keras layer without weights logs its activations under its model's name.
  const keras = clickAnchors({ "mlp/act/activations": {} });
  assert.equal(linkOf(items.get("act")!, g, keras)?.tag, "mlp/act/activations");
  assert.equal(linkOf(items.get("input")!, g, clickAnchors({})), null);
});
