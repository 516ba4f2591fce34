/**
 * Colour range modes of the heatmap cards, from the server's exact ranges (`GET ranges`:
 * max |x| of a tensor over all its logged steps, per diff mode).
 *
 *   "step"  -> [-m, m] from the shown step alone (most contrast; colours are not
 *              comparable between steps)
 *   "fixed" -> m over every logged step of this tensor (colours comparable while
 *              sliding or playing)
 *   "layer" -> m over every step of every tensor of the layer (kernel and bias on one scale)
 *   "runs"  -> m over every step of this tensor in every selected run (runs side by side
 *              on one scale)
 *
 * Pure: the exact ranges are fetched and cached by data/ranges.ts' RangeStore, which
 * resolveRange only reads through the `peek` it is given.
 *
 * Example:
 *   chooseRange("fixed", 0.5, [0.8], {steps: 20, tensors: 1, runs: 1})
 *     -> {m: 0.8, note: "range over all 20 steps"}
 */
import type { DiffMode, Ranges } from "../data/types";

export type RangeMode = "step" | "fixed" | "layer" | "runs";

export const RANGE_MODES: [RangeMode, string][] = [
  ["step", "range: per step"],
  ["fixed", "range: fixed over steps"],
  ["layer", "range: shared across layer"],
  ["runs", "range: shared across runs"],
];

/** What a shared range covers, for its note. */
export interface RangeScope {
  steps: number;
  tensors: number;
  runs: number;
}

/**
 * The half-width to draw with and a note saying where it comes from. `shared` holds the
 * exact ranges of the tensors sharing the scale (null: unknown or no finite value; still
 * loading: omitted); the shown step's own `stepM` is always covered.
 */
export function chooseRange(mode: RangeMode, stepM: number, shared: readonly (number | null)[], scope: RangeScope): { m: number; note: string } {
  if (mode === "step") return { m: stepM, note: "" };
  let m = Number.isFinite(stepM) ? stepM : 0;
  for (const v of shared) if (v !== null && v > m) m = v;
  const s = scope.steps === 1 ? "" : "s";
  const note =
    mode === "fixed"
      ? `range over all ${scope.steps} step${s}`
      : mode === "layer"
        ? `range over all ${scope.steps} step${s} of the layer's ${scope.tensors} tensor${scope.tensors === 1 ? "" : "s"}`
        : `range over all ${scope.steps} step${s} of ${scope.runs} run${scope.runs === 1 ? "" : "s"}`;
  return { m, note };
}

/** One (run, tensor) whose exact range joins a colour scale, with its step count. */
export interface RangeSource {
  run: string;
  tag: string;
  steps: number;
}

/**
 * The (run, tensor)s whose exact ranges make up `own`'s colour scale under `mode`:
 * none for "step", itself for "fixed", the layer's tensors for "layer", the runs'
 * copies of the tensor for "runs" (always with `own` included).
 *
 * Example: rangeSources("runs", {run: "a", tag: "k", steps: 3}, () => [], () => [{run: "b", steps: 5}])
 *   -> [{tag: "k", run: "b", steps: 5}, {run: "a", tag: "k", steps: 3}]
 */
export function rangeSources(
  mode: RangeMode,
  own: RangeSource,
  layerTags: () => { tag: string; steps: number }[],
  runTags: () => { run: string; steps: number }[],
): RangeSource[] {
  if (mode === "layer") {
    const layer = layerTags().map((t) => ({ run: own.run, ...t }));
    return layer.some((t) => t.tag === own.tag) ? layer : [...layer, own];
  }
  if (mode === "runs") {
    const runs = runTags().map((r) => ({ tag: own.tag, ...r }));
    return runs.some((r) => r.run === own.run) ? runs : [...runs, own];
  }
  return mode === "fixed" ? [own] : [];
}

/**
 * The half-width to draw with now for `sources` under `mode` (the shown step's own
 * `stepM` always covered) and its note, from the exact ranges known so far (`peek`:
 * a source's ranges, null when they could not be loaded, undefined while not known);
 * `missing` lists the sources whose ranges are still to come (fetch them, then redraw).
 *
 * Example: resolveRange(() => undefined, "fixed", "none", 0.5, [{run: "a", tag: "k", steps: 3}])
 *   -> {m: 0.5, note: "range over all 3 steps (loading 1 range…)", missing: [{run: "a", tag: "k", steps: 3}]}
 */
export function resolveRange(
  peek: (source: RangeSource) => Ranges | null | undefined,
  mode: RangeMode,
  diff: DiffMode,
  stepM: number,
  sources: readonly RangeSource[],
): { m: number; note: string; missing: RangeSource[] } {
  const known = sources.map((x) => peek(x));
  const exact = known.filter((r) => r !== undefined).map((r) => rangeOf(r, diff));
  const missing = sources.filter((_, k) => known[k] === undefined);
  const scope = {
    steps: sources.reduce((n, x) => n + x.steps, 0),
    tensors: new Set(sources.map((x) => x.tag)).size,
    runs: new Set(sources.map((x) => x.run)).size,
  };
  const chosen = chooseRange(mode, stepM, exact, scope);
  if (!missing.length) return { ...chosen, missing };
  const n = missing.length;
  return { m: chosen.m, note: `${chosen.note} (loading ${n} range${n > 1 ? "s" : ""}…)`, missing };
}

/** The range of one diff mode out of a `ranges` response. */
export function rangeOf(r: Ranges | null | undefined, mode: DiffMode): number | null {
  const v = r ? r[mode] : null;
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
