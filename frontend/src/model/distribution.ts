/**
 * The parameter distribution of one tensor over steps, from the quantiles every
 * trajectory point logs: per run a 5–95% band, a 25–75% band, the median line and thin
 * min / max lines, runs overlaid in their colours. Pure: builds the series and bands a
 * Chart draws.
 *
 * Example:
 *   const d = distributionSeries([{run: "a", color: "#1f77b4", trajectory}], false);
 *   d.series.map((s) => s.label)  // ["min", "q05", "q25", "median", "q75", "q95", "max"]
 *   d.bands                       // [[5, 1, "#1f77b42e"], [4, 2, "#1f77b45c"]]: [upper, lower, fill]
 */
import { color as d3color } from "d3-color";
import type { Trajectory } from "../data/types";
import { type ChartSeries, type XY } from "./series";

/** The logged quantile fields and their labels, lowest first. */
export const QUANTILES: [field: string, label: string][] = [
  ["min", "min"],
  ["q05", "q05"],
  ["q25", "q25"],
  ["q50", "median"],
  ["q75", "q75"],
  ["q95", "q95"],
  ["max", "max"],
];

/** `color` with an alpha (d3-color parses any CSS colour). Example: withAlpha("#1f77b4", 0.5) === "rgba(31, 119, 180, 0.5)". */
export function withAlpha(color: string, alpha: number): string {
  const c = d3color(color);
  if (!c) return color;
  c.opacity = alpha;
  return c.formatRgb();
}

export interface DistributionSeries {
  parts: XY[];
  series: ChartSeries[];
  /** [upper series index, lower series index, fill] into `series`. */
  bands: [number, number, string][];
}

/** The series of every run's distribution; `multiRun` prefixes labels with the run. */
export function distributionSeries(items: readonly { run: string; color: string; trajectory: Trajectory }[], multiRun: boolean): DistributionSeries {
  const out: DistributionSeries = { parts: [], series: [], bands: [] };
  for (const { run, color, trajectory } of items) {
    if (!QUANTILES.every(([f]) => Array.isArray(trajectory[f]))) continue;
    const base = out.series.length;
    for (const [field, label] of QUANTILES) {
      out.parts.push({ x: trajectory.step, y: trajectory[field] as (number | null)[] });
      const edge = field === "min" || field === "max";
      out.series.push({
        label: multiRun ? `${run} · ${label}` : label,
        color: field === "q50" ? color : withAlpha(color, edge ? 0.6 : 0.35),
        dash: edge ? [2, 3] : undefined,
        width: field === "q50" ? 1.5 : 1,
        values: [],
        key: { run, stat: label },
      });
    }
    // Indices follow QUANTILES: 1 = q05, 2 = q25, 4 = q75, 5 = q95.
    out.bands.push([base + 5, base + 1, withAlpha(color, 0.18)], [base + 4, base + 2, withAlpha(color, 0.36)]);
  }
  return out;
}
