import assert from "node:assert/strict";
import { test } from "node:test";
import { spectrumDensity } from "../src/model/spectrum";

test("spectrum density: tail-normalised log bins and the fitted power law from xmin", () => {
  const eigenvalues = Array.from({ length: 100 }, (_, k) => 100 / (k + 1)); // 100 .. 1
  const d = spectrumDensity({ eigenvalues, num_tail: 50, xmin: 2, alpha: 2 });
  assert.equal(d.x.length, 20);
  assert.ok(d.x.every((v, k) => k === 0 || v > d.x[k - 1]));
  // Every eigenvalue falls in one bin: counts * width sum to n / num_tail.
  const lo = Math.log10(1), hi = Math.log10(100), nb = d.x.length;
  const width = (k: number) => 10 ** (lo + ((hi - lo) * (k + 1)) / nb) - 10 ** (lo + ((hi - lo) * k) / nb);
  const total = d.empirical.reduce<number>((s, v, k) => s + (v ?? 0) * width(k) * 50, 0);
  assert.ok(Math.abs(total - 100) < 1e-6, String(total));
  d.fit.forEach((f, k) => {
    if (d.x[k] < 2) assert.equal(f, null);
    else assert.ok(Math.abs((f as number) - (1 / 2) * (d.x[k] / 2) ** -2) < 1e-12);
  });
  const none = spectrumDensity({ eigenvalues: [3, 2, 1], num_tail: null, xmin: null, alpha: null });
  assert.ok(none.fit.every((v) => v === null));
  assert.deepEqual(spectrumDensity({ eigenvalues: [0, NaN], num_tail: null, xmin: null, alpha: null }).x, []);
});

test("structure view: a layer's alpha is its first fitted tensor's", async () => {
  const { layerAlpha } = await import("../src/views/structure");
  const m = (alpha: number | null, index: number) => ({ step: 3, alpha, stable_rank: 1, skipped: null, index, num_evals: 64 });
  const tensors = { "d/bias": m(null, 1), "d/kernel": m(3.1, 0), "dd/kernel": m(9, 2), "x/y/kernel": m(2.5, 3) };
  assert.deepEqual(layerAlpha(tensors, "d"), { tag: "d/kernel", alpha: 3.1, evals: 64 });
  assert.deepEqual(layerAlpha(tensors, "x/y"), { tag: "x/y/kernel", alpha: 2.5, evals: 64 });
  assert.equal(layerAlpha(tensors, "e"), null);
  assert.equal(layerAlpha(undefined, "d"), null);
});

test("structure view: only alphas the findings would judge are flagged", async () => {
  const { alphaVerdict } = await import("../src/views/structure");
  assert.equal(alphaVerdict(1.5, 64), "low");
  assert.equal(alphaVerdict(7, 50), "high");
  assert.equal(alphaVerdict(3, 64), "ok");
  assert.equal(alphaVerdict(1.5, 10), "noise"); // the findings ignore fewer than 50 eigenvalues
  assert.equal(alphaVerdict(9, null), "noise");
});
