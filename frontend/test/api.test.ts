import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, decodeHeatmap, errorMessage, routeUrl } from "../src/data/api";
import { encodeHeatmap, header } from "./helpers";

test("decodeHeatmap reads header and one plane", () => {
  const data = [0.1, -0.2, 0.3, 1e-8, -3.5, 2];
  const hm = decodeHeatmap(encodeHeatmap(header({ shape: [1, 2, 3] }), data));
  assert.equal(hm.rows, 2);
  assert.equal(hm.cols, 3);
  assert.equal(hm.header.step, 10);
  assert.equal(hm.header.diff, "none");
  assert.equal(hm.planes.length, 1);
  assert.deepEqual([...hm.planes[0]], data.map(Math.fround));
});

test("decodeHeatmap splits mean and absmax planes, keeps NaN and Inf", () => {
  const mean = [0, NaN, Infinity, -Infinity];
  const absmax = [1, -2, 3, -4];
  const hm = decodeHeatmap(
    encodeHeatmap(header({ shape: [2, 2, 2], planes: ["mean", "absmax"], nan_count: 1, posinf_count: 1, neginf_count: 1 }), [...mean, ...absmax]),
  );
  assert.equal(hm.planes.length, 2);
  assert.ok(Number.isNaN(hm.planes[0][1]));
  assert.equal(hm.planes[0][2], Infinity);
  assert.equal(hm.planes[0][3], -Infinity);
  assert.deepEqual([...hm.planes[1]], absmax);
  assert.deepEqual(hm.header.planes, ["mean", "absmax"]);
});

test("decodeHeatmap handles space padding and non-ASCII header text", () => {
  const h = header({ shape: [1, 1, 2] });
  (h as unknown as Record<string, unknown>).note = "ünïcødé";
  const hm = decodeHeatmap(encodeHeatmap(h, [1.5, -1.5], 7));
  assert.deepEqual([...hm.planes[0]], [1.5, -1.5]);
});

test("decodeHeatmap copes with an unaligned data offset", () => {
  // A header length that breaks the 4-byte alignment promise still decodes.
  const json = new TextEncoder().encode(JSON.stringify(header({ shape: [1, 1, 2] })) + " ");
  const h = (4 + json.length) % 4 === 0 ? json.length + 1 : json.length;
  const bytes = new Uint8Array(4 + h + 8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, h, true);
  bytes.fill(32, 4, 4 + h);
  bytes.set(json, 4);
  view.setFloat32(4 + h, 0.25, true);
  view.setFloat32(4 + h + 4, -8, true);
  const hm = decodeHeatmap(bytes.buffer);
  assert.deepEqual([...hm.planes[0]], [0.25, -8]);
});

test("decodeHeatmap rejects truncated buffers", () => {
  assert.throws(() => decodeHeatmap(new ArrayBuffer(2)), /too short/);
  const buf = encodeHeatmap(header({ shape: [1, 2, 3] }), [1, 2, 3, 4, 5, 6]);
  assert.throws(() => decodeHeatmap(buf.slice(0, buf.byteLength - 4)), /expected 24/);
  const bad = new ArrayBuffer(8);
  new DataView(bad).setUint32(0, 100, true);
  assert.throws(() => decodeHeatmap(bad), /exceeds/);
});

test("errorMessage extracts JSON error fields and keeps plain text", () => {
  assert.equal(errorMessage(400, '{"error": "unknown tag \\"x\\""}'), '400: unknown tag "x"');
  assert.equal(errorMessage(404, "Not found: run 'a'\n"), "404: Not found: run 'a'");
  assert.equal(errorMessage(400, '{"error": {"message": "bad step"}}'), "400: bad step");
  assert.equal(errorMessage(500, ""), "500: request failed");
  assert.ok(new ApiError("x", 400) instanceof Error);
});

test("routeUrl resolves relative to the plugin base and escapes parameters", () => {
  const base = "http://h:6006/prefix/data/plugin/nnviz/";
  assert.equal(routeUrl("tags", {}, base), "http://h:6006/prefix/data/plugin/nnviz/tags");
  const u = new URL(routeUrl("heatmap", { run: "a b&c", tag: "<b>x</b>/kernel", step: 3 }, base));
  assert.equal(u.pathname, "/prefix/data/plugin/nnviz/heatmap");
  assert.equal(u.searchParams.get("run"), "a b&c");
  assert.equal(u.searchParams.get("tag"), "<b>x</b>/kernel");
  assert.equal(u.searchParams.get("step"), "3");
});
