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
 * Example:
 *   chooseRange("fixed", 0.5, [0.8], {steps: 20, tensors: 1, runs: 1})
 *     -> {m: 0.8, note: "range over all 20 steps"}
 */
import { fetchRanges } from "./api";
import type { DiffMode, Ranges } from "./types";

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

/**
 * The exact ranges of (run, tensor) pairs, fetched once and refetched when the tensor's
 * step count changes (a reload brought steps). Shared by every card.
 */
export class RangeStore {
  private readonly cache = new Map<string, { steps: number; value: Ranges | null | undefined; pending: Promise<void> }>();

  /** The known ranges, null when the request failed, undefined while not (yet) fetched. */
  peek(run: string, tag: string, steps: number): Ranges | null | undefined {
    const hit = this.cache.get(JSON.stringify([run, tag]));
    return hit && hit.steps === steps ? hit.value : undefined;
  }

  /** Resolves once the ranges of (run, tag) at `steps` steps are known (or failed). */
  load(run: string, tag: string, steps: number): Promise<void> {
    const key = JSON.stringify([run, tag]);
    const hit = this.cache.get(key);
    if (hit && hit.steps === steps) return hit.pending;
    const entry: { steps: number; value: Ranges | null | undefined; pending: Promise<void> } = { steps, value: undefined, pending: Promise.resolve() };
    entry.pending = fetchRanges(run, tag).then(
      (r) => void (entry.value = r),
      () => void (entry.value = null),
    );
    this.cache.set(key, entry);
    return entry.pending;
  }
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
 * `stepM` always covered), its note, and `loaded`: a promise when some exact ranges are
 * still loading (redraw when it resolves), else null.
 */
export function resolveRange(
  store: RangeStore,
  mode: RangeMode,
  diff: DiffMode,
  stepM: number,
  sources: readonly RangeSource[],
): { m: number; note: string; loaded: Promise<unknown> | null } {
  const known = sources.map((x) => store.peek(x.run, x.tag, x.steps));
  const exact = known.filter((r) => r !== undefined).map((r) => rangeOf(r, diff));
  const pending = known.length - exact.length;
  const scope = {
    steps: sources.reduce((n, x) => n + x.steps, 0),
    tensors: new Set(sources.map((x) => x.tag)).size,
    runs: new Set(sources.map((x) => x.run)).size,
  };
  const chosen = chooseRange(mode, stepM, exact, scope);
  if (!pending) return { ...chosen, loaded: null };
  return {
    m: chosen.m,
    note: `${chosen.note} (loading ${pending} range${pending > 1 ? "s" : ""}…)`,
    loaded: Promise.all(sources.map((x) => store.load(x.run, x.tag, x.steps))),
  };
}

/** The range of one diff mode out of a `ranges` response. */
export function rangeOf(r: Ranges | null | undefined, mode: DiffMode): number | null {
  const v = r ? r[mode] : null;
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
