import assert from "node:assert/strict";
import { test } from "node:test";
import { rgb } from "d3-color";
import { interpolateRdBu, interpolateViridis } from "d3-scale-chromatic";
import {
  LUT_CENTER,
  LUT_SIZE,
  NAN_RGBA,
  NEGINF_RGBA,
  POSINF_RGBA,
  colorize,
  isColormap,
  isMagnitude,
  lutIndex,
  lutOf,
  rangeText,
  rgbaOf,
  specialColors,
  symmetricMax,
} from "../src/model/colormap";

const lut = lutOf("diverging");
const entry = (i: number) => [lut[4 * i], lut[4 * i + 1], lut[4 * i + 2], lut[4 * i + 3]];

test("LUT runs blue -> white -> red (RdBu reversed)", () => {
  assert.equal(lut.length, LUT_SIZE * 4);
  const [r0, , b0] = entry(0);
  const [r1, , b1] = entry(LUT_SIZE - 1);
  assert.ok(b0 > r0, "negative end is blue");
  assert.ok(r1 > b1, "positive end is red");
  const c = entry(LUT_CENTER);
  assert.ok(c[0] > 230 && c[1] > 230 && c[2] > 230, `centre is near white: ${c}`);
  assert.equal(`rgb(${c[0]}, ${c[1]}, ${c[2]})`, interpolateRdBu(0.5));
});

test("symmetric range: 0 maps to the centre, +-m to the ends, outside clamps", () => {
  const m = symmetricMax(-0.3, 0.31);
  assert.equal(m, 0.31);
  assert.equal(lutIndex(0, m), LUT_CENTER);
  assert.equal(lutIndex(m, m), LUT_SIZE - 1);
  assert.equal(lutIndex(-m, m), 0);
  assert.equal(lutIndex(10, m), LUT_SIZE - 1);
  assert.equal(lutIndex(-10, m), 0);
  assert.equal(lutIndex(m / 2, m), LUT_CENTER + LUT_CENTER / 2);
  assert.deepEqual([...rgbaOf(0, m)], entry(LUT_CENTER));
  assert.deepEqual([...rgbaOf(-m, m)], entry(0));
  assert.deepEqual([...rgbaOf(m, m)], entry(LUT_SIZE - 1));
  // Equal magnitudes land symmetrically around the centre.
  assert.equal(lutIndex(0.1, m) - LUT_CENTER, LUT_CENTER - lutIndex(-0.1, m));
});

test("symmetricMax handles null, one-sided and zero ranges", () => {
  assert.equal(symmetricMax(null, null), 0);
  assert.equal(symmetricMax(-5, -1), 5);
  assert.equal(symmetricMax(0, 0), 0);
  assert.equal(lutIndex(0, 0), LUT_CENTER, "all-zero tensor is all centre colour");
  assert.equal(lutIndex(1e-9, 0), LUT_CENTER);
});

test("NaN, +Inf, -Inf get three distinct colours that are not on the map", () => {
  assert.deepEqual(rgbaOf(NaN, 1), NAN_RGBA);
  assert.deepEqual(rgbaOf(Infinity, 1), POSINF_RGBA);
  assert.deepEqual(rgbaOf(-Infinity, 1), NEGINF_RGBA);
  const specials = [NAN_RGBA, POSINF_RGBA, NEGINF_RGBA].map((c) => c.slice(0, 3).join(","));
  assert.equal(new Set(specials).size, 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    const e = entry(i);
    for (const s of [NAN_RGBA, POSINF_RGBA, NEGINF_RGBA]) {
      const d = Math.abs(e[0] - s[0]) + Math.abs(e[1] - s[1]) + Math.abs(e[2] - s[2]);
      assert.ok(d > 120, `special ${s} too close to LUT entry ${i} ${e}`);
    }
  }
});

test("colorize writes the same colours as rgbaOf", () => {
  const values = new Float32Array([0, 0.31, -0.31, 0.1, NaN, Infinity, -Infinity, 5]);
  const out = new Uint8ClampedArray(values.length * 4);
  colorize(values, 0.31, out);
  values.forEach((v, k) => assert.deepEqual([...out.slice(4 * k, 4 * k + 4)], [...rgbaOf(v, 0.31)], `value ${v}`));
});


test("viridis colours |x| on [0, m]: 0 at the dark end, +-m at the yellow end, the sign dropped", () => {
  const vir = lutOf("viridis");
  const at = (i: number) => [vir[4 * i], vir[4 * i + 1], vir[4 * i + 2], vir[4 * i + 3]];
  assert.equal(`rgb(${at(0).slice(0, 3).join(", ")})`, rgb(interpolateViridis(0)).toString(), "dark purple");
  assert.equal(`rgb(${at(LUT_SIZE - 1).slice(0, 3).join(", ")})`, rgb(interpolateViridis(1)).toString(), "yellow");
  assert.deepEqual([...rgbaOf(0, 0.31, "viridis")], at(0));
  assert.deepEqual([...rgbaOf(0.31, 0.31, "viridis")], at(LUT_SIZE - 1));
  assert.deepEqual([...rgbaOf(-0.31, 0.31, "viridis")], at(LUT_SIZE - 1));
  assert.equal(lutIndex(-0.155, 0.31, LUT_SIZE, true), LUT_CENTER);
  assert.equal(lutIndex(5, 0.31, LUT_SIZE, true), LUT_SIZE - 1, "clamped");
  assert.equal(lutIndex(1, 0, LUT_SIZE, true), 0, "no range: all at the zero end");
  assert.ok(isMagnitude("viridis") && !isMagnitude("diverging"));
  assert.ok(isColormap("viridis") && isColormap("diverging") && !isColormap("jet") && !isColormap(undefined));
  assert.equal(rangeText(0.31, "viridis"), "|x| 0–0.31");
  assert.equal(rangeText(0.31), "±0.31");
});

test("viridis' NaN, +Inf, -Inf colours are distinct and off its map", () => {
  const vir = lutOf("viridis");
  const s = specialColors("viridis");
  assert.deepEqual(rgbaOf(NaN, 1, "viridis"), s.nan);
  assert.deepEqual(rgbaOf(Infinity, 1, "viridis"), s.posinf);
  assert.deepEqual(rgbaOf(-Infinity, 1, "viridis"), s.neginf);
  const all = [s.nan, s.posinf, s.neginf];
  assert.equal(new Set(all.map((c) => c.slice(0, 3).join(","))).size, 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    for (const c of all) {
      const d = Math.abs(vir[4 * i] - c[0]) + Math.abs(vir[4 * i + 1] - c[1]) + Math.abs(vir[4 * i + 2] - c[2]);
      assert.ok(d > 120, `special ${c} too close to viridis entry ${i}`);
    }
  }
});

test("colorize with viridis writes the same colours as rgbaOf", () => {
  const values = new Float32Array([0, 0.31, -0.31, 0.1, -0.1, NaN, Infinity, -Infinity, -5]);
  const out = new Uint8ClampedArray(values.length * 4);
  colorize(values, 0.31, out, "viridis");
  values.forEach((v, k) => assert.deepEqual([...out.slice(4 * k, 4 * k + 4)], [...rgbaOf(v, 0.31, "viridis")], `value ${v}`));
});
