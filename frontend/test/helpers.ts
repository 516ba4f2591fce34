/** Test helpers: hand-built heatmap responses and a brute-force transpose/reshape. */
import type { HeatmapHeader } from "../src/data/types";

/**
 * Encodes a heatmap response exactly as the backend documents it: uint32 LE header
 * length H, H bytes of JSON padded with spaces so 4 + H is a multiple of 4, float32 LE data.
 */
export function encodeHeatmap(header: HeatmapHeader, data: number[], extraPad = 0): ArrayBuffer {
  let json = JSON.stringify(header);
  let h = new TextEncoder().encode(json).length + extraPad;
  while ((4 + h) % 4 !== 0) h++;
  json = json + " ".repeat(h - new TextEncoder().encode(json).length);
  const jsonBytes = new TextEncoder().encode(json);
  const buf = new ArrayBuffer(4 + h + data.length * 4);
  const view = new DataView(buf);
  view.setUint32(0, h, true);
  new Uint8Array(buf, 4, h).set(jsonBytes);
  data.forEach((v, k) => view.setFloat32(4 + h + 4 * k, v, true));
  return buf;
}

export function header(over: Partial<HeatmapHeader> = {}): HeatmapHeader {
  return {
    step: 10,
    wall_time: 1.7e9,
    shape: [1, 2, 3],
    planes: ["value"],
    diff: "none",
    base_step: null,
    min: -1,
    max: 2,
    nan_count: 0,
    posinf_count: 0,
    neginf_count: 0,
    ...over,
  };
}

/** All multi-indices of `shape` in row-major order. */
export function allIndices(shape: number[]): number[][] {
  let out: number[][] = [[]];
  for (const n of shape) {
    const next: number[][] = [];
    for (const prefix of out) for (let i = 0; i < n; i++) next.push([...prefix, i]);
    out = next;
  }
  return out;
}

/**
 * The grid of tensor indices produced by x.transpose(perm).reshape(R, C), done literally:
 * walk the transposed array in row-major order, then cut the flat list into rows of C.
 */
export function bruteGrid(shape: number[], rows: number[], cols: number[]): number[][][] {
  const perm = [...rows, ...cols];
  const tshape = perm.map((a) => shape[a]);
  const flat: number[][] = [];
  for (const o of allIndices(tshape)) {
    const idx = new Array<number>(shape.length).fill(0);
    perm.forEach((a, k) => (idx[a] = o[k]));
    flat.push(idx);
  }
  const C = cols.reduce((p, a) => p * shape[a], 1);
  const grid: number[][][] = [];
  for (let k = 0; k < flat.length; k += C) grid.push(flat.slice(k, k + C));
  return grid;
}

/**
 * The unpooled grid cell [r, c] of a tensor index: the inverse of gridToTensorIndex,
 * written independently (mixed-radix numbers of the row and column axes) to check it.
 */
export function tensorIndexToGrid(idx: readonly number[], shape: readonly number[], layout: { rows: number[]; cols: number[] }): [number, number] {
  const encode = (axes: readonly number[]) => axes.reduce((n, a) => n * shape[a] + idx[a], 0);
  return [encode(layout.rows), encode(layout.cols)];
}

/** Content -> screen under a view (the inverse of viewport.toContent). */
export function toScreen(v: { scale: number; tx: number; ty: number }, x: number, y: number): [number, number] {
  return [x * v.scale + v.tx, y * v.scale + v.ty];
}
