/**
 * Chart math for the update trajectories: aligning runs on one step axis, log-scale
 * ranges that never break on null / zero / negative values, and the "healthy" band of
 * the |dW|/|W| chart. Pure, no DOM and no uPlot.
 *
 * Example:
 *   alignSeries([{x: [0, 10], y: [1, 2]}, {x: [10, 20], y: [3, null]}])
 *     -> {x: [0, 10, 20], ys: [[1, 2, null], [null, 3, null]]}
 *   logRange(2e-4, 0.3)                 -> [1e-4, 1]
 *   logRange(null, null, HEALTHY_BAND)  -> [1e-4, 1e-2]
 */
import { schemeCategory10 } from "d3-scale-chromatic";

/** The |dW|/|W| band drawn as a guide: around the CS231n rule of thumb of ~1e-3. */
export const HEALTHY_BAND: readonly [number, number] = [1e-4, 1e-2];
export const HEALTHY_LABEL = "healthy ~1e-3";

export interface XY {
  x: readonly number[];
  y: readonly (number | null | undefined)[];
}

/**
 * Puts several (x, y) series on their sorted union of x values; a series gets null
 * where it has no point. Non-finite y values become null.
 */
export function alignSeries(parts: readonly XY[]): { x: number[]; ys: (number | null)[][] } {
  const set = new Set<number>();
  for (const p of parts) for (const x of p.x) if (Number.isFinite(x)) set.add(x);
  const x = [...set].sort((a, b) => a - b);
  const pos = new Map(x.map((v, k) => [v, k]));
  const ys = parts.map((p) => {
    const out: (number | null)[] = new Array(x.length).fill(null);
    p.x.forEach((xv, k) => {
      const at = pos.get(xv);
      const yv = p.y[k];
      if (at !== undefined && typeof yv === "number" && Number.isFinite(yv)) out[at] = yv;
    });
    return out;
  });
  return { x, ys };
}

/** Values for a log axis: keeps finite positive numbers, everything else becomes null. */
export function positiveOrNull(values: readonly (number | null | undefined)[]): (number | null)[] {
  return values.map((v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null));
}

/** Smallest and largest finite positive value over all arrays, or nulls. */
export function positiveExtent(arrays: readonly (readonly (number | null)[])[]): [number | null, number | null] {
  let lo: number | null = null;
  let hi: number | null = null;
  for (const a of arrays) {
    for (const v of a) {
      if (v === null || !(v > 0) || !Number.isFinite(v)) continue;
      if (lo === null || v < lo) lo = v;
      if (hi === null || v > hi) hi = v;
    }
  }
  return [lo, hi];
}

/**
 * A log-axis range [10^a, 10^b] (whole decades) covering [min, max] and, when given,
 * `include` (the guide band). Without any positive value: the band, else [0.1, 10].
 * Always spans at least one decade (a lone power of ten gets the decade on each side).
 */
export function logRange(
  min: number | null | undefined,
  max: number | null | undefined,
  include?: readonly [number, number],
): [number, number] {
  const vals: number[] = [];
  for (const v of [min, max, ...(include ?? [])]) if (typeof v === "number" && Number.isFinite(v) && v > 0) vals.push(v);
  if (!vals.length) return [0.1, 10];
  let a = Math.floor(Math.log10(Math.min(...vals)) + 1e-9);
  let b = Math.ceil(Math.log10(Math.max(...vals)) - 1e-9);
  if (b <= a) {
    // One value that is a whole power of ten: centre it in two decades.
    a -= 1;
    b += 1;
  }
  return [Number(`1e${a}`), Number(`1e${b}`)];
}

/**
 * The band's rectangle in canvas pixels, given the pixel rows of its two edges
 * (yHi for the larger value, which is nearer the top) and the plot area; clipped to the
 * plot area, null when it lies outside.
 *
 * Example: bandRect(40, 120, 0, 100) -> {y: 40, h: 60}; bandRect(-50, -10, 0, 100) -> null.
 */
export function bandRect(yHi: number, yLo: number, plotTop: number, plotHeight: number): { y: number; h: number } | null {
  if (!Number.isFinite(yHi) || !Number.isFinite(yLo)) return null;
  const top = Math.max(plotTop, Math.min(yHi, yLo));
  const bottom = Math.min(plotTop + plotHeight, Math.max(yHi, yLo));
  if (bottom <= top) return null;
  return { y: top, h: bottom - top };
}

/**
 * Where a |dW|/|W| value sits against the guide band: "low" (below 1e-4: the layer
 * barely learns), "ok", "high" (above 1e-2: updates too large), or null for no value.
 */
export function ratioHealth(r: number | null | undefined): "low" | "ok" | "high" | null {
  if (typeof r !== "number" || !Number.isFinite(r)) return null;
  if (r < HEALTHY_BAND[0]) return "low";
  if (r > HEALTHY_BAND[1]) return "high";
  return "ok";
}

/**
 * The colour of the k-th selected run: d3's category10 (readable on light and dark
 * backgrounds), cycled. Example: runColor(0) === "#1f77b4", runColor(10) === runColor(0).
 */
export function runColor(k: number): string {
  const n = schemeCategory10.length;
  return schemeCategory10[((k % n) + n) % n];
}

/** Dash patterns telling a layer's tensors apart (solid, dashed, dotted, ...). */
export function tensorDash(k: number): number[] {
  const dashes = [[], [6, 4], [2, 3], [8, 3, 2, 3]];
  return dashes[k % dashes.length];
}
