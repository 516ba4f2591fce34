import assert from "node:assert/strict";
import { test } from "node:test";
import type { HeatmapHeader } from "../src/data/types";
import { specialColors } from "../src/model/colormap";
import { specialItems } from "../src/views/colorbar";
import { AXIS_PX, LEGEND_PX, MIN_BAR_W, PAD, figureLayout } from "../src/views/figure";

test("the exported picture holds title, heatmap and colour bar without overlap", () => {
  for (const [w, h] of [
    [128, 64],
    [640, 480],
    [20, 300],
  ]) {
    const L = figureLayout(w, h);
    assert.ok(L.width > w && L.height > h, "larger than the heatmap alone");
    assert.ok(L.subtitleY > L.titleY && L.heat.y > L.subtitleY);
    assert.ok(L.bar.y >= L.heat.y + L.heat.h, "bar below the heatmap");
    assert.ok(L.ticksY >= L.bar.y + L.bar.h && L.ticksY < L.height - PAD + 1);
    assert.ok(L.bar.w >= MIN_BAR_W && L.bar.x + L.bar.w <= L.width - PAD);
    assert.deepEqual([L.heat.w, L.heat.h], [w, h]);
  }
  assert.deepEqual([figureLayout(128, 64).width, figureLayout(128, 64).height], [264, 164]);
});

test("with axis labels the heatmap moves right and down to make room for them", () => {
  for (const [w, h] of [
    [128, 64],
    [640, 480],
  ]) {
    const plain = figureLayout(w, h);
    const L = figureLayout(w, h, true);
    assert.deepEqual([L.width - plain.width, L.height - plain.height], [AXIS_PX, AXIS_PX]);
    assert.deepEqual([L.heat.x, L.heat.y], [plain.heat.x + AXIS_PX, plain.heat.y + AXIS_PX]);
    assert.ok(L.colLabelY > L.subtitleY && L.colLabelY + AXIS_PX <= L.heat.y, "column label between subtitle and heatmap");
    assert.ok(L.rowLabelX > PAD && L.rowLabelX < L.heat.x, "row label left of the heatmap");
    assert.ok(L.bar.x + L.bar.w <= L.width - PAD);
  }
  assert.deepEqual([figureLayout(128, 64, true).width, figureLayout(128, 64, true).height], [280, 180]);
});

test("a NaN / ±Inf legend adds one line under the ticks", () => {
  for (const axes of [false, true]) {
    const plain = figureLayout(128, 64, axes);
    const L = figureLayout(128, 64, axes, true);
    assert.equal(L.height - plain.height, LEGEND_PX);
    assert.ok(L.legendY >= L.ticksY + 11 && L.legendY + LEGEND_PX - 5 <= L.height - PAD);
    assert.deepEqual([L.width, L.heat, L.bar], [plain.width, plain.heat, plain.bar]);
  }
  assert.equal(figureLayout(128, 64, false, true).height, 180);
});

test("the legend lists only the non-finite kinds a heatmap holds, in their colours", () => {
  const header = { nan_count: 3, posinf_count: 0, neginf_count: 1 } as unknown as HeatmapHeader;
  const items = specialItems(header);
  assert.deepEqual(items.map((i) => [i.key, i.label, i.count]), [["nan", "NaN", 3], ["neginf", "−Inf", 1]]);
  assert.deepEqual(items[0].rgba, specialColors("diverging").nan);
  assert.deepEqual(specialItems({ nan_count: 0 } as unknown as HeatmapHeader), []);
});
