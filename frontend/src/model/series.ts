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

/** One line of a chart (views/chart.ts): label, colour, dash and its values (null: a gap). */
export interface ChartSeries {
  label: string;
  color: string;
  dash?: number[];
  /** Line width in CSS pixels (default 1.5). */
  width?: number;
  values: readonly (number | null)[];
  /** Extra fields for the chart's `data-series-last` test hook (e.g. {run, tag}). */
  key?: Record<string, string>;
}

/**
 * The |dW|/|W| band drawn as a guide, per optimizer step (the findings' definition, see
 * tb_nnviz/diagnose/rates.py): around the CS231n rule of thumb of ~1e-3.
 */
export const HEALTHY_BAND: readonly [number, number] = [1e-4, 1e-2];
export type Health = "stopped" | "tiny" | "ok" | "large";

/**
 * Each status' glyph, word, rule and meaning. Status is told by glyph and word (and the
 * hatched bar of ui/style.ts), never by hue alone: the runs' colours use every hue of
 * category10.
 */
export const HEALTH: Record<Health, { glyph: string; word: string; rule: string; meaning: string }> = {
  ok: { glyph: "✓", word: "healthy", rule: "1e-4 to 1e-2 per step", meaning: "around the ~1e-3 rule of thumb" },
  large: { glyph: "▲", word: "large", rule: "above 1e-2 per step", meaning: "updates are large for this tensor" },
  tiny: { glyph: "▼", word: "tiny", rule: "below 1e-4 per step", meaning: "this tensor barely changes" },
  stopped: { glyph: "■", word: "stopped", rule: "exactly 0", meaning: "this tensor no longer changes" },
};

/** The band's one wording (the charts' band text; the legend says the same rule). */
export const HEALTHY_LABEL = `healthy: ${HEALTH.ok.rule}`;

/** Example: healthText("tiny") === "tiny: below 1e-4 per step (this tensor barely changes)". */
export function healthText(h: Health): string {
  return `${HEALTH[h].word}: ${HEALTH[h].rule} (${HEALTH[h].meaning})`;
}

/**
 * How a per-step ratio was measured, for tooltips.
 *
 * Example: perStepNote(20) === "|dW|/|W| per step, averaged over the 20 steps between points".
 */
export function perStepNote(steps: number | null | undefined): string {
  if (typeof steps !== "number" || !Number.isFinite(steps)) return "|dW|/|W| per step (the change between two logged points divided by the steps between them)";
  return `|dW|/|W| per step, averaged over the ${steps} step${steps === 1 ? "" : "s"} between points`;
}

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

/**
 * Where exact zeros sit on a log axis: one decade below the smallest positive value (or
 * the band), so a stopped update shows as a point at the bottom, not as a gap. null when
 * no value is 0.
 *
 * Example: zeroFloor([[0, 3e-3, 0.2]]) === 1e-4; zeroFloor([[1e-3]]) === null.
 */
export function zeroFloor(arrays: readonly (readonly (number | null | undefined)[])[], band?: readonly [number, number]): number | null {
  let zero = false;
  let lo = band ? band[0] : Infinity;
  for (const a of arrays) {
    for (const v of a) {
      if (v === 0) zero = true;
      else if (typeof v === "number" && Number.isFinite(v) && v > 0 && v < lo) lo = v;
    }
  }
  if (!zero) return null;
  return Number.isFinite(lo) ? Number(`1e${Math.floor(Math.log10(lo) + 1e-9) - 1}`) : 0.01;
}

/** Values for a log axis: finite positive numbers kept, exact zeros at `floor` (when given), the rest null. */
export function logValues(values: readonly (number | null | undefined)[], floor: number | null): (number | null)[] {
  return values.map((v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : v === 0 && floor !== null ? floor : null));
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
 * Axis labels that do not collide: walking from the bottom of a vertical axis (largest
 * pixel position) up, a label is kept when it is at least `minGap` pixels from the last
 * kept one, else blanked (its tick and grid line stay). The bottom label (a log axis' "0"
 * floor) always stays.
 *
 * Example: thinLabels([100, 95, 90, 60, 10], ["0", "1e-5", "1e-4", "1e-3", "1"], 14)
 *   -> ["0", "", "", "1e-3", "1"]
 */
export function thinLabels(pos: readonly number[], labels: readonly string[], minGap: number): string[] {
  const order = pos.map((p, k) => [p, k] as const).filter(([p, k]) => Number.isFinite(p) && labels[k]).sort((a, b) => b[0] - a[0]);
  const out = labels.map(() => "");
  let last = Infinity;
  for (const [p, k] of order) {
    if (last - p < minGap) continue;
    out[k] = labels[k];
    last = p;
  }
  return out;
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
 * Where a per-step |dW|/|W| value sits against the guide band: "stopped" (exactly 0: the tensor
 * no longer changes at all), "tiny" (below 1e-4: it barely learns), "ok", "large" (above
 * 1e-2: updates too large), or null for no value. Stopped is not tiny: a dead layer and
 * a slow one need different fixes, so the overview names and colours them apart.
 */
export function ratioHealth(r: number | null | undefined): Health | null {
  if (typeof r !== "number" || !Number.isFinite(r)) return null;
  if (r === 0) return "stopped";
  if (r < HEALTHY_BAND[0]) return "tiny";
  if (r > HEALTHY_BAND[1]) return "large";
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

/**
 * Whether a linear chart of these series flattens some of them beside others (their
 * largest |values| differ by more than `spread`, as a good run's weights beside one that
 * blew up): then the symlog (asinh) threshold to draw them with, the smallest series'
 * largest |value| / 10; else null.
 *
 * Example: symlogThreshold([[1, -2], [3e4, 1e5]]) === 0.2; symlogThreshold([[1, 2], [3, 4]]) === null.
 */
export function symlogThreshold(series: readonly (readonly (number | null | undefined)[])[], spread = 100): number | null {
  const maxes: number[] = [];
  for (const vs of series) {
    let m = 0;
    for (const v of vs) if (typeof v === "number" && Number.isFinite(v)) m = Math.max(m, Math.abs(v));
    if (m > 0) maxes.push(m);
  }
  if (maxes.length < 2) return null;
  const lo = Math.min(...maxes);
  const hi = Math.max(...maxes);
  return hi / lo > spread ? lo / 10 : null;
}

/**
 * A long series thinned for drawing to at most `n` points, one per interval of equal
 * width in x, each holding every series' maximum over its interval (a one-step spike in
 * |dW|/|W| stays on the chart however many steps share a pixel). The point sits at the
 * interval's last x; `from` is its first x. Nulls are gaps: an interval without a value
 * is null. At most `n` points already: returned as they are.
 *
 * Example: maxPerInterval([0, 1, 2, 3], [[1, 9, 2, null]], 2)
 *   -> {x: [1, 3], ys: [[9, 2]], from: [0, 2]}
 */
export function maxPerInterval(
  x: readonly number[],
  ys: readonly (readonly (number | null | undefined)[])[],
  n: number,
): { x: number[]; ys: (number | null)[][]; from: number[] } {
  if (x.length <= n || n < 1) return { x: [...x], ys: ys.map((v) => Array.from(v, (a) => a ?? null)), from: [...x] };
  const lo = x[0];
  const width = (x[x.length - 1] - lo) / n || 1;
  const bucket = (v: number) => Math.min(n - 1, Math.floor((v - lo) / width));
  const out = { x: [] as number[], ys: ys.map(() => [] as (number | null)[]), from: [] as number[] };
  for (let k = 0; k < x.length; ) {
    const b = bucket(x[k]);
    let j = k + 1;
    while (j < x.length && bucket(x[j]) === b) j++;
    out.x.push(x[j - 1]);
    out.from.push(x[k]);
    ys.forEach((v, s) => {
      let m: number | null = null;
      for (let i = k; i < j; i++) {
        const a = v[i];
        if (typeof a === "number" && !Number.isNaN(a) && (m === null || a > m)) m = a;
      }
      out.ys[s].push(m);
    });
    k = j;
  }
  return out;
}
