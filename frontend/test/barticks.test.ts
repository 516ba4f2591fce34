import assert from "node:assert/strict";
import { test } from "node:test";
import { CHAR_PX, barTicks, fits } from "../src/model/barticks";
import { BAR_WIDTH } from "../src/views/colorbar";

test("the reported colliding ranges get round, short, non-overlapping labels", () => {
  for (const m of [0.0982, 4.9e-5, 0.31, 1, 7.5, 12345, 3e-9, 0.00123]) {
    const ts = barTicks(m, BAR_WIDTH);
    assert.ok(ts.length >= 2, `m=${m}: ${JSON.stringify(ts)}`);
    assert.ok(fits(ts), `m=${m}: ${ts.map((t) => t.label).join(" ")}`);
    for (const t of ts) {
      assert.ok(Math.abs(t.value) <= m, `m=${m}: ${t.value} outside the bar`);
      const half = (t.label.length * CHAR_PX) / 2;
      assert.ok(t.x - half >= 0 && t.x + half <= BAR_WIDTH, `m=${m}: label ${t.label} leaves the bar`);
    }
    assert.ok(ts.some((t) => t.value === 0), `m=${m}: 0 is labelled`);
  }
  assert.deepEqual(barTicks(0.0982, BAR_WIDTH).map((t) => t.label), ["−0.05", "0", "0.05"]);
  assert.deepEqual(barTicks(4.9e-5, BAR_WIDTH).map((t) => t.label), ["−4e-5", "−2e-5", "0", "2e-5", "4e-5"]);
});

test("a narrow bar gets fewer ticks; no range gives a lone 0", () => {
  assert.ok(barTicks(0.0982, 60).length < barTicks(0.0982, 240).length);
  assert.deepEqual(barTicks(0, 240), [{ value: 0, label: "0", x: 120 }]);
  assert.deepEqual(barTicks(NaN, 240).map((t) => t.label), ["0"]);
});

test("a magnitude bar runs from 0 at its left end to m", () => {
  for (const m of [0.0982, 4.9e-5, 0.31, 7.5]) {
    const ts = barTicks(m, BAR_WIDTH, true);
    assert.ok(ts.length >= 2 && fits(ts), `m=${m}: ${ts.map((t) => t.label).join(" ")}`);
    assert.equal(ts[0].value, 0, `m=${m}`);
    assert.ok(ts.every((t) => t.value >= 0 && t.value <= m), `m=${m}`);
    assert.ok(ts[0].x < 20, `m=${m}: 0 at the left end (${ts[0].x})`);
  }
  assert.equal(barTicks(0, 240, true)[0].label, "0");
});
