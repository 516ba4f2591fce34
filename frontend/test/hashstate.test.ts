import assert from "node:assert/strict";
import { test } from "node:test";
import { formatHash, parseHash } from "../src/hashstate";

test("the view round-trips through the hash, names with separators included", () => {
  const state = {
    runs: ["a,b", "c&d/train", "é"],
    filter: "dense_1|conv (kernel)$",
    cards: [{ run: "a,b", tag: "x/kernel", mode: "first", step: 30 }, { run: "é", tag: "y", mode: "prev", step: null }],
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

test("damaged hashes give empty parts, never throw", () => {
  assert.deepEqual(parseHash("#nnviz&nv_runs=%E0%A4%A&nv_filter=%&nv_cards=[1,"), { runs: [], filter: "", cards: [] });
  assert.deepEqual(parseHash("#nnviz&nv_cards=" + encodeURIComponent('[["r","t","prev","x"],[1,2,3,4],"z"]')).cards, [
    { run: "r", tag: "t", mode: "prev", step: null },
  ]);
  assert.deepEqual(parseHash(""), { runs: [], filter: "", cards: [] });
});
