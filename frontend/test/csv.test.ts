import assert from "node:assert/strict";
import { test } from "node:test";
import { columnsToCsv, csvField, safeFilename, toCsv } from "../src/model/csv";

test("csvField quotes separators, quotes and newlines; nulls and NaN are empty", () => {
  assert.equal(csvField(null), "");
  assert.equal(csvField(undefined), "");
  assert.equal(csvField(NaN), "");
  assert.equal(csvField(Infinity), "inf");
  assert.equal(csvField(-Infinity), "-inf");
  assert.equal(csvField(0.1), "0.1");
  assert.equal(csvField(-2.5e-8), "-2.5e-8");
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField('a,"b"'), '"a,""b"""');
  assert.equal(csvField("two\nlines"), '"two\nlines"');
  assert.equal(csvField("=HYPERLINK(1)"), "'=HYPERLINK(1)");
});

test("columnsToCsv writes a header and one row per step, padding short columns", () => {
  const text = columnsToCsv(["step", "run a · kernel", "b"], [[0, 10, 20], [0.5, null, 1e-3], [1]]);
  assert.equal(text, "step,run a · kernel,b\r\n0,0.5,1\r\n10,,\r\n20,0.001,\r\n");
  assert.equal(toCsv(["x"], []), "x\r\n");
});

test("safeFilename keeps only safe characters", () => {
  assert.equal(safeFilename(["run/a", "dense/kernel", "norm"], "csv"), "run_a-dense_kernel-norm.csv");
  assert.equal(safeFilename(["../..", "<b>x</b>"], "png"), "b_x_b_.png");
  assert.equal(safeFilename(["", "/"], "png"), "nnviz.png");
  assert.ok(safeFilename(["x".repeat(400)], "csv").length <= 154);
});
