import assert from "node:assert/strict";
import { test } from "node:test";
import { keepRuns } from "../src/views/app";
import { nextStepIndex } from "../src/views/steps";
import { absmaxOf, statsLine } from "../src/views/cardbody";
import { chooseRange, rangeOf, rangeSources, resolveRange } from "../src/model/colorrange";
import { tensorSubtitle } from "../src/model/describe";
import { findingsRank, pickStartRun, scalarsHash, scalarsRunOf, severityOrder, startRun, summarize, totals, whenText, worstSeverity } from "../src/model/findings";
import { gateSpans } from "../src/views/heatmap";
import { architectureGroups, byNetworkOrder, networkOrder } from "../src/model/order";
import { formatCount } from "../src/model/format";
import { totalParameters } from "../src/views/overview";
import { cardWidth, groupTags } from "../src/views/sections";
import { unionSteps } from "../src/views/tensorrow";
import type { TagInfo } from "../src/data/types";
import { header } from "./helpers";

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

test("colour range modes: per step, exact over all steps, shared across a layer or runs", () => {
  const scope = { steps: 12, tensors: 1, runs: 1 };
  assert.deepEqual(chooseRange("step", 0.6, [0.9], scope), { m: 0.6, note: "" });
  assert.deepEqual(chooseRange("fixed", 0.6, [0.8], scope), { m: 0.8, note: "range over all 12 steps" });
  // The shown step always fits, unknown ranges are skipped.
  assert.equal(chooseRange("fixed", 0.6, [null], scope).m, 0.6);
  assert.equal(chooseRange("layer", 0.6, [0.8, 2], { steps: 24, tensors: 2, runs: 1 }).m, 2);
  assert.equal(chooseRange("layer", 0.6, [0.8, 2], { steps: 24, tensors: 2, runs: 1 }).note, "range over all 24 steps of the layer's 2 tensors");
  assert.equal(chooseRange("runs", 0.6, [0.8, 3], { steps: 24, tensors: 1, runs: 2 }).note, "range over all 24 steps of 2 runs");
  assert.equal(rangeOf({ steps: 2, none: 1, prev: null, first: 2 }, "prev"), null);
  assert.equal(rangeOf({ steps: 2, none: 1, prev: null, first: 2 }, "first"), 2);
  assert.equal(rangeOf(undefined, "none"), null);
});

test("network order from the writer's index, falling back to the given order", () => {
  assert.deepEqual(networkOrder({ "b/k": { index: 0 }, "a/k": { index: 1 } }), ["b/k", "a/k"]);
  assert.deepEqual(networkOrder({ "z/k": { index: 2 }, "a/k": {}, "m/k": { index: 0 } }), ["m/k", "z/k", "a/k"]);
  assert.deepEqual(networkOrder({ "b/k": {}, "a/k": { index: null } }), ["b/k", "a/k"]);
  const rows = [{ name: "a/k" }, { name: "x" }, { name: "b/k" }];
  assert.deepEqual(
    byNetworkOrder(rows, (r) => r.name, [{ "b/k": { index: 0 }, "a/k": { index: 1 } }]).map((r) => r.name),
    ["b/k", "a/k", "x"],
  );
  const i = (group: string, index?: number) => ({ group, index }) as TagInfo;
  const g = groupTags({ a: { "d/k": i("d", 1), "e/k": i("e", 0) } }, ["a"]);
  assert.deepEqual([...g.keys()], ["e", "d"]);
});

test("cards of one tensor across runs share a row's width; steps merge", () => {
  assert.equal(cardWidth(2400, 1), 640);
  assert.equal(cardWidth(1000, 2), 423);
  assert.ok(cardWidth(900, 2) * 2 + 16 + 90 + 48 <= 900 + 1);
  assert.deepEqual(unionSteps([[0, 10, 20], [10, 30], []]), [0, 10, 20, 30]);
});

test("gate blocks split the stored columns, pooling included", () => {
  const info = { gates: ["i", "f", "c", "o"], grid: [32, 128] as [number, number], pool: [1, 1] as [number, number] };
  assert.deepEqual(gateSpans(info, 128), [["i", 0, 32], ["f", 32, 64], ["c", 64, 96], ["o", 96, 128]]);
  assert.deepEqual(gateSpans({ ...info, pool: [1, 4] }, 32).map((s) => s.slice(1)), [[0, 8], [8, 16], [16, 24], [24, 32]]);
  assert.deepEqual(gateSpans({ ...info, gates: null }, 128), []);
  assert.deepEqual(gateSpans({ ...info, gates: ["a", "b", "c"] }, 128), [], "columns not divisible by the gates");
});

test("findings summary per run: counts by severity, or says nothing was found", () => {
  assert.equal(summarize([]), "no problems found");
  assert.equal(totals(1, 2, 1), "1 error, 2 warnings and 1 info in the selected runs");
  assert.equal(totals(3, 0, 0), "3 errors in the selected runs");
  assert.equal(totals(0, 2, 1), "2 warnings and 1 info in the selected runs");
  assert.equal(totals(1, 1, 0), "1 error and 1 warning in the selected runs");
  assert.equal(totals(0, 0, 1), "no problems in the selected runs, 1 info");
  assert.equal(totals(0, 0, 0), "no problems in the selected runs");
  assert.equal(summarize([{ severity: "error" }, { severity: "warning" }, { severity: "warning" }]), "1 error, 2 warnings");
  assert.equal(summarize([{ severity: "info" }, { severity: "odd" }]), "1 info, 1 other");
});

test("runs of different models are told apart for the weight-space path", () => {
  const t = (shape: number[]) => ({ shape, has_trajectory: true });
  const tags = {
    healthy: { "mlp/d/k": t([64, 64]), "mlp/d/b": t([64]) },
    lr: { "mlp/d/k": t([64, 64]), "mlp/d/b": t([64]), "mlp/extra/k": t([2]) },
    vanishing: { "deep/s/k": t([64, 64]) },
    wider: { "mlp/d/k": t([64, 128]) },
  };
  assert.deepEqual(architectureGroups(tags, ["healthy", "lr", "vanishing", "wider"]), [["healthy", "lr"], ["vanishing"], ["wider"]]);
  assert.deepEqual(architectureGroups(tags, ["healthy"]), [["healthy"]]);
});

test("loss findings count epochs and name their Scalars run", () => {
  assert.equal(whenText({ step: 3, evidence: { step_unit: "epoch" } }), "from epoch 3");
  assert.equal(whenText({ step: 40, evidence: {} }), "from step 40");
  assert.equal(whenText({ step: null, evidence: null }), "");
  assert.equal(scalarsRunOf({ evidence: { scalars_run: "a/train" } }), "a/train");
  assert.equal(scalarsRunOf({ evidence: { scalars_run: 3 } }), null);
  assert.equal(scalarsRunOf({ evidence: null }), null);
});

test("the Scalars link selects the finding's runs by an escaped regex and the loss tags", () => {
  const h = scalarsHash({ evidence: { scalars_run: "a.b/train", validation_run: "a.b/validation" } });
  assert.equal(h, "scalars&regexInput=" + encodeURIComponent("^(?:a\\.b/train|a\\.b/validation)$") + "&tagFilter=loss");
  const re = new RegExp(decodeURIComponent(h.split("regexInput=")[1].split("&")[0]));
  assert.ok(re.test("a.b/train") && re.test("a.b/validation") && !re.test("axb/train") && !re.test("a.b/train2"));
  assert.equal(scalarsHash({ evidence: { scalars_run: "r", validation_run: null } }), "scalars&regexInput=" + encodeURIComponent("^(?:r)$") + "&tagFilter=loss");
  assert.equal(scalarsHash({ evidence: null }), "scalars");
});

test("a card's colour scale sources: none per step, itself, its layer, its runs", () => {
  const own = { run: "a", tag: "d/k", steps: 3 };
  const layer = () => [{ tag: "d/b", steps: 3 }];
  const runs = () => [{ run: "b", steps: 5 }];
  assert.deepEqual(rangeSources("step", own, layer, runs), []);
  assert.deepEqual(rangeSources("fixed", own, layer, runs), [own]);
  assert.deepEqual(rangeSources("layer", own, layer, runs), [{ run: "a", tag: "d/b", steps: 3 }, own]);
  assert.deepEqual(rangeSources("runs", own, layer, runs), [{ tag: "d/k", run: "b", steps: 5 }, own]);
});

test("a card's colour range from the exact ranges known so far, and the ones still to fetch", () => {
  const a = { run: "a", tag: "d/k", steps: 3 };
  const b = { run: "b", tag: "d/k", steps: 5 };
  const known = new Map([["a", { steps: 3, none: 0.8, prev: 0.01, first: 0.2 }]]);
  const peek = (s: { run: string }) => known.get(s.run);
  const loading = resolveRange(peek, "runs", "none", 0.5, [a, b]);
  assert.equal(loading.m, 0.8);
  assert.equal(loading.note, "range over all 8 steps of 2 runs (loading 1 range…)");
  assert.deepEqual(loading.missing, [b]);
  // Failed requests (null) count as known: nothing left to wait for.
  const done = resolveRange((s) => (s.run === "a" ? known.get("a") : null), "runs", "prev", 0.5, [a, b]);
  assert.deepEqual(done, { m: 0.5, note: "range over all 8 steps of 2 runs", missing: [] });
  assert.deepEqual(resolveRange(peek, "step", "none", 0.5, []), { m: 0.5, note: "", missing: [] });
});

test("a card's subtitle and stats line", () => {
  const info = { shape: [4, 6], dtype: "float32", grid: [4, 6], pool: [2, 2], gates: ["i", "f"], description: "Dense kernel" } as unknown as TagInfo;
  assert.equal(tensorSubtitle(info), "shape 4 × 6 · float32 · grid 4×6 pooled 2×2 → 2×3 · gates i f · Dense kernel");
  assert.equal(statsLine(header({ step: 30, diff: "prev", base_step: 20, min: -1, max: 2, wall_time: 0 })), "step 30 · Δ vs step 20 · min -1  max 2");
  assert.equal(statsLine(header({ step: 0, diff: "none", min: -1, max: 2, wall_time: 0 }), true, 5), "step 0 · block means: min -1  max 2 · max |x| 5");
  assert.equal(statsLine(header({ step: 0, diff: "none", min: -1, max: 2, wall_time: 0 }), true), "step 0 · block means: min -1  max 2");
});

test("a pooled heatmap's max |x| comes from its absmax plane, not from a change", () => {
  const planes = [new Float32Array([0.1, -0.2]), new Float32Array([0.5, -3])];
  const h = (diff: "none" | "prev", names = ["mean", "absmax"]) => ({ header: header({ diff, planes: names }), planes });
  assert.equal(absmaxOf(h("none")), 3);
  assert.equal(absmaxOf(h("prev")), null);
  assert.equal(absmaxOf(h("none", ["value"])), null);
  assert.equal(absmaxOf({ header: header({ diff: "none", planes: ["mean", "absmax"] }), planes: [planes[0], new Float32Array([NaN])] }), null);
});

test("the first run shown: errors first, then warnings, then notes, then the first run", () => {
  const w = [{ severity: "warning" }];
  const e = [{ severity: "error" }];
  const i = [{ severity: "info" }];
  assert.deepEqual([findingsRank(e), findingsRank([...w, ...e]), findingsRank(w), findingsRank([...i, ...w]), findingsRank(i), findingsRank([]), findingsRank(undefined)], [0, 0, 1, 1, 2, 3, 3]);
  assert.deepEqual([worstSeverity([...i, ...e]), worstSeverity(w), worstSeverity(i), worstSeverity([])], ["error", "warning", "info", null]);
  assert.equal(startRun(["a", "b", "c"], [[], i, w]), "c");
  assert.equal(startRun(["a", "b", "c"], [i, w, e]), "c");
  assert.equal(startRun(["a", "b", "c"], [i, e, w]), "b");
  assert.equal(startRun(["a", "b"], [[], i]), "b");
  assert.equal(startRun(["a", "b"], [[], undefined]), "a");
  assert.equal(startRun([], []), null);
});

test("the Findings panel lists runs with errors, then warnings, then notes, then none; by name within", () => {
  const w = [{ severity: "warning" }];
  const e = [{ severity: "info" }, { severity: "error" }];
  const i = [{ severity: "info" }];
  assert.deepEqual(severityOrder([i, [], undefined, w, e, w, e]), [4, 6, 3, 5, 0, 1, 2]);
  assert.deepEqual(severityOrder([]), []);
});

test("pickStartRun asks a few runs at a time and stops at the first batch with an error", async () => {
  const runs = Array.from({ length: 30 }, (_, k) => `r${String(k).padStart(2, "0")}`);
  const asked: string[] = [];
  const fetch = async (run: string) => {
    asked.push(run);
    if (run === "r03") throw new Error("500");
    return run === "r02" ? [{ severity: "info" }] : run === "r06" || run === "r07" ? [{ severity: "error" }] : [];
  };
  const { run, fetched } = await pickStartRun(runs, fetch as never);
  assert.equal(run, "r06");
  assert.deepEqual(asked, runs.slice(0, 8)); // two batches of four
  assert.ok(fetched.has("r02") && !fetched.has("r03"));
  // A warning does not stop the search: an error further on outranks it.
  const later = await pickStartRun(runs, (async (r: string) => (r === "r01" ? [{ severity: "warning" }] : r === "r13" ? [{ severity: "error" }] : [])) as never);
  assert.equal(later.run, "r13");
  assert.equal(later.fetched.size, 16);
  // No warning anywhere: the first run with a note, among the runs asked (24 at most).
  const quiet = await pickStartRun(runs, (async (r: string) => (r === "r20" || r === "r28" ? [{ severity: "info" }] : [])) as never);
  assert.equal(quiet.run, "r20");
  assert.equal(quiet.fetched.size, 24);
  assert.equal((await pickStartRun(["x"], (async () => []) as never)).run, "x");
});
