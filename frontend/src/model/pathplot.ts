/**
 * Plotting math of the weight-space path (PCA of the sketched parameter vector):
 * data extent, the box shown with equal units on both axes, the stretches of finite
 * points, step-order colours, axis labels with explained variance, nearest-point lookup.
 * Pure, no DOM; views/pathview.ts draws with uPlot.
 *
 * Example:
 *   const ext = pathExtent([{x: [0, 1, 2], y: [0, 1, null]}]);   // padded box around the points
 *   equalAspect(ext!, 400, 300) -> the box to show, widened on its short side
 *   pcLabel(0, [0.873, 0.1])    -> "PC1 (87.3%)"
 *   orderColors(3, interpolateViridis) -> [start colour, middle, end]
 *   pathLength({x: [0, 3, 3], y: [0, 4, 5]}) === 6
 */
export interface PathSeries {
  x: readonly (number | null)[];
  y: readonly (number | null)[];
}

export interface Extent {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** Explained variance of PC1 above which the random-walk caveat is shown. */
export const RANDOM_WALK_PC1 = 0.8;

const finite = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * The data box of all points whose x and y are both finite, padded by `pad` of its
 * size on each side (a zero-size side gets +-0.5, or +-|v| / 2). Null without points.
 */
export function pathExtent(series: readonly PathSeries[], pad = 0.06): Extent | null {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const s of series) {
    const n = Math.min(s.x.length, s.y.length);
    for (let k = 0; k < n; k++) {
      const x = s.x[k];
      const y = s.y[k];
      if (!finite(x) || !finite(y)) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x0 > x1) return null;
  const widen = (lo: number, hi: number): [number, number] => {
    const d = hi - lo;
    if (d > 0) return [lo - d * pad, hi + d * pad];
    const half = lo === 0 ? 0.5 : Math.abs(lo) / 2;
    return [lo - half, hi + half];
  };
  [x0, x1] = widen(x0, x1);
  [y0, y1] = widen(y0, y1);
  return { x0, x1, y0, y1 };
}

/**
 * The data box to show in a pw x ph plot area so both axes have the same units per
 * pixel (distances in weight space stay comparable): `ext` widened on its short side,
 * centred.
 *
 * Example: equalAspect({x0: 0, x1: 10, y0: 0, y1: 2}, 400, 200) -> {x0: 0, x1: 10, y0: -1.5, y1: 3.5}
 */
export function equalAspect(ext: Extent, pw: number, ph: number): Extent {
  pw = Math.max(1, pw);
  ph = Math.max(1, ph);
  const dx = Math.max(1e-300, ext.x1 - ext.x0);
  const dy = Math.max(1e-300, ext.y1 - ext.y0);
  const k = Math.min(pw / dx, ph / dy);
  const cx = (ext.x0 + ext.x1) / 2;
  const cy = (ext.y0 + ext.y1) / 2;
  return { x0: cx - pw / k / 2, x1: cx + pw / k / 2, y0: cy - ph / k / 2, y1: cy + ph / k / 2 };
}

/** A stretch of consecutive points with finite x and y: coordinates and their indices in the series. */
export interface Segment {
  x: number[];
  y: number[];
  index: number[];
}

/**
 * The stretches of a path between non-finite points (the line breaks there).
 *
 * Example: finiteSegments({x: [0, 1, null, 3], y: [0, 1, 2, 3]})
 *   -> [{x: [0, 1], y: [0, 1], index: [0, 1]}, {x: [3], y: [3], index: [3]}]
 */
export function finiteSegments(s: PathSeries): Segment[] {
  const out: Segment[] = [];
  let cur: Segment | null = null;
  const n = Math.min(s.x.length, s.y.length);
  for (let k = 0; k < n; k++) {
    const x = s.x[k];
    const y = s.y[k];
    if (!finite(x) || !finite(y)) {
      cur = null;
      continue;
    }
    if (!cur) out.push((cur = { x: [], y: [], index: [] }));
    cur.x.push(x);
    cur.y.push(y);
    cur.index.push(k);
  }
  return out;
}

/**
 * n colours from `interp` in step order, first = interp(0), last = interp(1); a single
 * point gets the end colour.
 */
export function orderColors(n: number, interp: (t: number) => string): string[] {
  const out: string[] = [];
  for (let k = 0; k < n; k++) out.push(interp(n <= 1 ? 1 : k / (n - 1)));
  return out;
}

/**
 * Axis label with explained variance. Example: pcLabel(0, [0.873, 0.1]) === "PC1 (87.3%)";
 * pcLabel(1, []) === "PC2".
 */
export function pcLabel(axis: number, ratio: readonly number[] | null | undefined): string {
  const r = ratio?.[axis];
  const name = `PC${axis + 1}`;
  if (typeof r !== "number" || !Number.isFinite(r)) return name;
  const pct = r * 100;
  return `${name} (${pct >= 99.95 && pct < 100 ? "99.9" : pct.toFixed(1)}%)`;
}

/** True when PC1 explains so much that the random-walk caveat applies. */
export function showRandomWalkNote(ratio: readonly number[] | null | undefined): boolean {
  const r = ratio?.[0];
  return typeof r === "number" && r >= RANDOM_WALK_PC1;
}

/**
 * The point nearest to pixel (px, py) within `maxDist` pixels, over pixel points
 * [run index, point index, x, y]; null when none is close enough.
 */
export function nearestPoint(
  points: readonly (readonly [number, number, number, number])[],
  px: number,
  py: number,
  maxDist = 10,
): { series: number; index: number } | null {
  let best = maxDist * maxDist;
  let hit: { series: number; index: number } | null = null;
  for (const [s, i, x, y] of points) {
    const d = (x - px) * (x - px) + (y - py) * (y - py);
    if (d <= best) {
      best = d;
      hit = { series: s, index: i };
    }
  }
  return hit;
}

/**
 * Indices of the series whose own span (the larger of its x and y ranges over finite
 * points) is below `fraction` of the span of all series together: in joint axes they
 * shrink to a dot. A lone series, or one without points, is never listed.
 *
 * Example: collapsedSeries([{x: [0, 100], y: [0, 50]}, {x: [1, 1.2], y: [0, 0.1]}]) -> [1].
 */
export function collapsedSeries(series: readonly PathSeries[], fraction = 0.02): number[] {
  const raw = series.map((s) => {
    let lo = [Infinity, Infinity];
    let hi = [-Infinity, -Infinity];
    const n = Math.min(s.x.length, s.y.length);
    for (let k = 0; k < n; k++) {
      const x = s.x[k];
      const y = s.y[k];
      if (!finite(x) || !finite(y)) continue;
      lo = [Math.min(lo[0], x), Math.min(lo[1], y)];
      hi = [Math.max(hi[0], x), Math.max(hi[1], y)];
    }
    return lo[0] > hi[0] ? null : { lo, hi };
  });
  const present = raw.filter((r): r is { lo: number[]; hi: number[] } => r !== null);
  if (present.length < 2) return [];
  const all = Math.max(
    Math.max(...present.map((r) => r.hi[0])) - Math.min(...present.map((r) => r.lo[0])),
    Math.max(...present.map((r) => r.hi[1])) - Math.min(...present.map((r) => r.lo[1])),
  );
  if (!(all > 0)) return [];
  const out: number[] = [];
  raw.forEach((r, k) => {
    if (r && Math.max(r.hi[0] - r.lo[0], r.hi[1] - r.lo[1]) < fraction * all) out.push(k);
  });
  return out;
}

/**
 * Length of the path drawn: the sum of the distances between consecutive points of each
 * finite stretch (a NaN point breaks the line, and the gap is not counted). Null without
 * points. In the projection's coordinates, that is parameter units: the sketch keeps
 * Euclidean distances on average, and PCA projects without scaling.
 *
 * Example: pathLength({x: [0, 3, 3], y: [0, 4, 5]}) === 6; pathLength({x: [null], y: [1]}) === null.
 */
export function pathLength(s: PathSeries): number | null {
  const segs = finiteSegments(s);
  if (!segs.length) return null;
  let total = 0;
  for (const g of segs) for (let k = 1; k < g.x.length; k++) total += Math.hypot(g.x[k] - g.x[k - 1], g.y[k] - g.y[k - 1]);
  return total;
}

/**
 * The scale line under each plot of per-run axes: its path length, and beside other
 * runs how it compares with the longest (plots of per-run axes are each scaled to
 * their own path, so their sizes do not compare). `lengths[k]` belongs to `runs[k]`.
 *
 * Example: scaleLines(["a", "b"], [3.2, 0.004]) ->
 *   ["own scale · path length 3.2 (longest)", "own scale · path length 0.004 (800× shorter than a)"]
 */
export function scaleLines(runs: readonly string[], lengths: readonly (number | null)[], fmt: (v: number) => string = String): string[] {
  const known = lengths.filter((l): l is number => l !== null && Number.isFinite(l));
  const max = known.length ? Math.max(...known) : 0;
  const longest = runs[lengths.indexOf(max)];
  return lengths.map((l) => {
    if (l === null || !Number.isFinite(l)) return "own scale";
    const base = `own scale · path length ${fmt(l)}`;
    if (known.length < 2 || !(max > 0)) return base;
    if (l === max) return `${base} (longest)`;
    const r = max / l;
    if (!Number.isFinite(r)) return `${base} (${longest} moved, this run did not)`;
    return r < 1.05 ? `${base} (about as long as ${longest})` : `${base} (${times(r)}× shorter than ${longest})`;
  });
}

/** A ratio for "N× shorter": two significant digits below 100, whole numbers above. Example: times(1234.5) === "1,235". */
function times(r: number): string {
  return r < 100 ? String(Number(r.toPrecision(2))) : Math.round(r).toLocaleString("en-US");
}
