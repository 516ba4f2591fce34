import assert from "node:assert/strict";
import { test } from "node:test";
import { compileFilter, problemLines } from "../src/views/app";
import { isHeatmap } from "../src/views/sections";
import { pickStep, stepAfterReload } from "../src/views/steps";
import { describeCell } from "../src/model/describe";
import { formatFloat32, formatIndex, formatRange, formatShape, formatShort } from "../src/model/format";
import { cellSize } from "../src/views/heatmap";
import type { Heatmap, TagInfo } from "../src/data/types";
import { header } from "./helpers";

test("formatFloat32 gives the shortest string that round-trips the float32", () => {
  for (const x of [0.1, 1 / 3, -2.5e-8, 123456.789, 3.4e38, 1.17549435e-38, 1e-45, 7, -0.3]) {
    const f = Math.fround(x);
    const s = formatFloat32(f);
    assert.equal(Math.fround(Number(s)), f, `${x} -> ${s}`);
    assert.ok(s.replace(/^-/, "").replace(/e.*$/, "").replace(".", "").replace(/^0+/, "").length <= 9, s);
  }
  assert.equal(formatFloat32(Math.fround(0.1)), "0.1");
  assert.equal(formatFloat32(Math.fround(1 / 3)), "0.33333334");
  assert.equal(formatFloat32(2), "2");
  assert.equal(formatFloat32(0), "0");
  assert.equal(formatFloat32(-0), "-0");
  assert.equal(formatFloat32(NaN), "NaN");
  assert.equal(formatFloat32(Infinity), "+Inf");
  assert.equal(formatFloat32(-Infinity), "-Inf");
});

test("short labels, indices, ranges, shapes", () => {
  assert.equal(formatShort(0.012345), "0.0123");
  assert.equal(formatShort(-12345), "-1.23e+4");
  assert.equal(formatShort(0.15), "0.15");
  assert.equal(formatShort(0), "0");
  assert.equal(formatIndex([3, 17]), "[3, 17]");
  assert.equal(formatRange(4, 8), "4–7");
  assert.equal(formatRange(4, 5), "4");
  assert.equal(formatShape([3, 3, 16, 32]), "3 × 3 × 16 × 32");
});

function info(over: Partial<TagInfo>): TagInfo {
  return {
    kind: "heatmap",
    shape: [2, 3],
    dtype: "float32",
    layout: { kind: "matrix", rows: [0], cols: [1] },
    grid: [2, 3],
    pool: [1, 1],
    planes: ["value"],
    gates: null,
    steps: [0, 10],
    ...over,
  };
}

function heatmap(rows: number, cols: number, planes: number[][], names: string[], over = {}): Heatmap {
  return {
    header: header({ shape: [planes.length, rows, cols], planes: names, ...over }),
    planes: planes.map((p) => new Float32Array(p)),
    rows,
    cols,
  };
}

test("tooltip of an unpooled matrix cell: exact value, row, col, tensor index", () => {
  const vals = [0.1, -0.2, 0.3, 1 / 3, NaN, -Infinity];
  const d = describeCell(info({}), heatmap(2, 3, [vals], ["value"]), 1, 0);
  assert.equal(d.row, 1);
  assert.equal(d.col, 0);
  assert.equal(d.value, "0.33333334");
  assert.equal(d.valueLabel, "value");
  assert.equal(d.index, "[1, 0]");
  assert.equal(d.block, null);
  assert.equal(d.absmax, null);
  assert.equal(describeCell(info({}), heatmap(2, 3, [vals], ["value"]), 1, 1).value, "NaN");
  assert.equal(describeCell(info({}), heatmap(2, 3, [vals], ["value"]), 1, 2).value, "-Inf");
});

test("tooltip of a conv cell gives [ky, kx, in, out]", () => {
  const i = info({ shape: [3, 3, 2, 4], layout: { kind: "conv", rows: [2, 0], cols: [3, 1] }, grid: [6, 12] });
  const hm = heatmap(6, 12, [new Array(72).fill(0).map((_, k) => k)], ["value"]);
  const d = describeCell(i, hm, 4, 7);
  assert.equal(d.index, "[1, 1, 1, 2]");
  assert.equal(d.value, String(4 * 12 + 7));
});

test("tooltip of a pooled cell: block ranges, index range, absmax, diff label", () => {
  const i = info({ shape: [10, 7], grid: [10, 7], pool: [4, 3], planes: ["mean", "absmax"] });
  const mean = new Array(9).fill(0).map((_, k) => k / 10);
  const absmax = new Array(9).fill(0).map((_, k) => -k);
  const hm = heatmap(3, 3, [mean, absmax], ["mean", "absmax"], { diff: "prev", base_step: 0 });
  const d = describeCell(i, hm, 2, 2);
  assert.equal(d.row, 2);
  assert.equal(d.col, 2);
  assert.equal(d.block, "rows 8–9, cols 6");
  assert.equal(d.index, "[8, 6] … [9, 6]");
  assert.equal(d.absmax, "-8");
  assert.equal(d.value, "0.8");
  assert.equal(d.valueLabel, "Δ mean since step 0");
});

test("tooltip without a usable layout still shows value and grid position", () => {
  const i = info({ shape: [4, 3], layout: { kind: "split", rows: [0], cols: [] }, grid: [2, 3] });
  const d = describeCell(i, heatmap(2, 3, [[1, 2, 3, 4, 5, 6]], ["value"]), 0, 2);
  assert.equal(d.index, null);
  assert.equal(d.value, "3");
});

test("after a reload the latest step follows the latest, any other step stays", () => {
  assert.equal(stepAfterReload([0, 1, 2], [0, 1, 2, 3, 4], 2), 4);
  assert.equal(stepAfterReload([0, 1, 2], [0, 1, 2, 3, 4], 1), 1);
  assert.equal(stepAfterReload([0, 1, 2], [0, 1, 2], 2), 2);
  assert.equal(stepAfterReload([], [0, 5], null), 5);
  assert.equal(stepAfterReload([0, 10, 20], [0, 20, 30], 10), 0); // gone: nearest earlier
});

test("pickStep keeps the step, else nearest earlier, else first; default last", () => {
  assert.equal(pickStep([0, 10, 20], null), 20);
  assert.equal(pickStep([0, 10, 20], 10), 10);
  assert.equal(pickStep([0, 20, 30], 10), 0);
  assert.equal(pickStep([20, 30], 10), 20);
  assert.equal(pickStep([], 10), null);
});

test("compileFilter: case-insensitive regex, invalid -> null", () => {
  assert.ok(compileFilter("KERNEL$")!.test("dense/kernel"));
  assert.ok(compileFilter("")!.test("anything"));
  assert.equal(compileFilter("("), null);
});

test("cell sizes: square readable cells, taller vector cells, fractional when huge", () => {
  assert.deepEqual(cellSize(64, 64), [7, 7]);
  assert.deepEqual(cellSize(1, 64), [10, 20]);
  assert.deepEqual(cellSize(2, 3), [16, 16]);
  const [w, h] = cellSize(1000, 2000);
  assert.ok(w * 2000 <= 640 + 1e-9 && h * 1000 <= 480 + 1e-9);
});

test("only heatmap tags get cards; server problems become readable lines", () => {
  assert.equal(isHeatmap(info({})), true);
  const traj = { ...info({}), kind: "trajectory", layout: null, grid: null, pool: null } as unknown as TagInfo;
  assert.equal(isHeatmap(traj), false);
  assert.deepEqual(problemLines([{ run: "a", tag: "<x>", message: "bad metadata" }, { message: "m" }]), ["a / <x>: bad metadata", "m"]);
  assert.deepEqual(problemLines(undefined), []);
});
