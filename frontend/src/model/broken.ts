/**
 * Broken runs read as broken: where a panel shows "the latest step" of a tensor whose
 * weights turned NaN, it shows the last finite value instead, with the step NaN started.
 * Pure.
 *
 * Example:
 *   lastFinite([0, 1, 2, 3], [null, 1e-3, null, null], [1, 1.1, null, null])
 *     -> {value: 1e-3, step: 1, nanStep: 2}
 *   brokenText({value: 1e-3, step: 1, nanStep: 2}) === "1e-3/step at step 1 · ✖ NaN from step 2"
 */
import { formatShort } from "./format";

export interface Broken {
  /** The last finite value before NaN started (null: none). */
  value: number | null;
  /** Its step. */
  step: number | null;
  /** The first step of the stretch of non-finite norms that runs to the end (null: the latest norm is finite). */
  nanStep: number | null;
}

/**
 * The last finite value of `values` before the weights' `norm` turned non-finite for good,
 * and the step that happened (the norm is null from there to the end).
 */
export function lastFinite(steps: readonly number[], values: readonly (number | null | undefined)[], norm: readonly (number | null | undefined)[]): Broken {
  let k = norm.length;
  while (k > 0 && (norm[k - 1] === null || norm[k - 1] === undefined || !Number.isFinite(norm[k - 1] as number))) k--;
  const nanStep = k < norm.length && k < steps.length ? steps[k] : null;
  const end = nanStep === null ? values.length : k;
  for (let j = Math.min(end, values.length) - 1; j >= 0; j--) {
    const v = values[j];
    if (typeof v === "number" && Number.isFinite(v)) return { value: v, step: steps[j] ?? null, nanStep };
  }
  return { value: null, step: null, nanStep };
}

/** True when a tensor's latest statistics are missing because its weights are NaN/Inf. */
export function looksBroken(row: { nonfinite?: number | null; norm?: number | null; update_ratio_per_step?: number | null }): boolean {
  return (row.nonfinite ?? 0) > 0 || ((row.norm ?? null) === null && (row.update_ratio_per_step ?? null) === null && row.nonfinite !== undefined && row.nonfinite !== null);
}

/** The words for a broken tensor's ratio: the last finite ratio and when NaN started. */
export function brokenText(b: Broken): string {
  const last = b.value === null ? "no finite ratio" : `${formatShort(b.value)}/step at step ${b.step}`;
  return b.nanStep === null ? last : `${last} · \u2716\uFE0E NaN from step ${b.nanStep}`;
}

/**
 * A broken tensor's last finite ratio and NaN step as the overview route serves them
 * (`nonfinite_from`, `last_finite_ratio_per_step`, `last_finite_step`); null when its
 * latest norm is finite (or the server predates the fields).
 *
 * Example: brokenOfRow({nonfinite_from: 2, last_finite_ratio_per_step: 1e-3, last_finite_step: 1})
 *   -> {value: 1e-3, step: 1, nanStep: 2}
 */
export function brokenOfRow(row: { nonfinite_from?: number | null; last_finite_ratio_per_step?: number | null; last_finite_step?: number | null }): Broken | null {
  const nanStep = row.nonfinite_from ?? null;
  if (nanStep === null) return null;
  const value = row.last_finite_ratio_per_step ?? null;
  return { value, step: value === null ? null : (row.last_finite_step ?? null), nanStep };
}

/**
 * The last logged step before `step` whose data has finite values, for a heatmap that is
 * all NaN/Inf at `step`: walks back over the logged `steps`, loading each with `load`
 * (undefined: superseded, give up), and returns what it found with `nanFrom`, the first
 * all-non-finite step after it (the earliest step checked). No finite step: `found` null,
 * `nanFrom` the first logged step.
 *
 * Example (a tensor NaN from step 20, heatmaps at 0, 10, 20, 30):
 *   await lastFiniteBefore([0, 10, 20, 30], 30, fetchStep, (h) => h.header.min !== null)
 *     -> {found: <step 10's heatmap>, step: 10, nanFrom: 20}
 */
export async function lastFiniteBefore<T>(
  steps: readonly number[],
  step: number,
  load: (step: number) => Promise<T | undefined>,
  finite: (data: T) => boolean,
): Promise<{ found: T | null; step: number | null; nanFrom: number } | undefined> {
  let nanFrom = step;
  for (let k = steps.indexOf(step) - 1; k >= 0; k--) {
    const data = await load(steps[k]);
    if (data === undefined) return undefined;
    if (finite(data)) return { found: data, step: steps[k], nanFrom };
    nanFrom = steps[k];
  }
  return { found: null, step: null, nanFrom };
}
