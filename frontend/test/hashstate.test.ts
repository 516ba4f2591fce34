import assert from "node:assert/strict";
import { test } from "node:test";
import { formatHash, parseHash } from "../src/data/hashstate";

test("the view round-trips through the hash, names with separators included", () => {
  const state = {
    runs: ["a,b", "c&d/train", "é"],
    filter: "dense_1|conv (kernel)$",
    cards: [{ run: "a,b", tag: "x/kernel", mode: "first", step: 30 }, { run: "é", tag: "y", mode: "prev", step: null }],
    detail: "c&d/train",
    axes: "per-run" as const,
    shared: ["x/kernel", "a,b/c"],
    block: "conv2_block1&x",
  };
  const hash = formatHash("#nnviz", state);
  assert.ok(hash.startsWith("#nnviz&nv_runs="));
  assert.deepEqual(parseHash(hash), state);
});

test("TensorBoard's parts of the hash are kept and ours replaced", () => {
  const hash = formatHash("#nnviz&other=1&nv_runs=old&nv_filter=x", { runs: ["new"], filter: "", cards: [] });
  assert.equal(hash, "#nnviz&other=1&nv_runs=new");
  assert.equal(formatHash("#nnviz&nv_runs=a", { runs: [], filter: "", cards: [] }), "#nnviz");
});

const EMPTY = { runs: [], filter: "", cards: [], detail: null, axes: "joint", shared: [], block: null };

test("defaults are left out of the hash", () => {
  assert.equal(formatHash("#nnviz", { runs: ["a"], filter: "", cards: [], detail: null, axes: "joint", shared: [], block: null }), "#nnviz&nv_runs=a");
});

test("damaged hashes give empty parts, never throw", () => {
  assert.deepEqual(parseHash("#nnviz&nv_runs=%E0%A4%A&nv_filter=%&nv_cards=[1,"), EMPTY);
  assert.deepEqual(parseHash("#nnviz&nv_cards=" + encodeURIComponent('[["r","t","prev","x"],[1,2,3,4],"z"]')).cards, [
    { run: "r", tag: "t", mode: "prev", step: null },
  ]);
  assert.deepEqual(parseHash(""), EMPTY);
  assert.equal(parseHash("#nnviz&nv_axes=sideways").axes, "joint");
});

test("a card's colour map rides fifth in nv_cards, only when not the default", () => {
  const cards = [
    { run: "a", tag: "d/kernel", mode: "none", step: null, cmap: "viridis" },
    { run: "a", tag: "d/bias", mode: "prev", step: 20 },
  ];
  const hash = formatHash("#nnviz", { runs: ["a"], filter: "", cards });
  assert.equal(
    decodeURIComponent(hash.split("nv_cards=")[1]),
    '[["a","d/kernel","none",null,"viridis"],["a","d/bias","prev",20]]',
  );
  assert.deepEqual(parseHash(hash).cards, cards);
  // A damaged colour map is left out (the card falls back to its default).
  assert.deepEqual(parseHash("#nnviz&nv_cards=" + encodeURIComponent('[["r","t","none",3,7]]')).cards, [
    { run: "r", tag: "t", mode: "none", step: 3 },
  ]);
});
