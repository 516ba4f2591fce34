/**
 * Colour range modes of the heatmap cards. Pure, no DOM.
 *
 *   "step"  -> [-m, m] from the shown step alone (most contrast; colours are not
 *              comparable between steps)
 *   "fixed" -> m = max |x| over the steps of this tensor fetched so far (colours comparable
 *              while sliding or playing; the server does not list per-step ranges, so it
 *              grows as more steps are seen, and the card says how many)
 *   "layer" -> m = max over all tensors of the layer and their fetched steps (kernel and
 *              bias on one scale)
 *
 * Example:
 *   const t = new RangeTracker();
 *   t.note("a", 0, 0.5); t.note("a", 10, 0.8); t.note("b", 0, 2);
 *   t.max(["a"]) === 0.8;  t.max(["a", "b"]) === 2;  t.count(["a"]) === 2
 *   chooseRange("fixed", 0.5, t, ["a"], 20).m === 0.8
 */

export type RangeMode = "step" | "fixed" | "layer";

export const RANGE_MODES: [RangeMode, string][] = [
  ["step", "range: per step"],
  ["fixed", "range: fixed over steps"],
  ["layer", "range: shared across layer"],
];

/** Largest half-width m seen per key (a tensor in a run and diff mode), and at which steps. */
export class RangeTracker {
  private readonly seen = new Map<string, Map<number, number>>();
  private readonly listeners = new Set<(key: string) => void>();

  /** Records half-width `m` of `key` at `step`; tells listeners when a maximum grew. */
  note(key: string, step: number, m: number): void {
    if (!Number.isFinite(m) || m < 0) return;
    let steps = this.seen.get(key);
    if (!steps) {
      steps = new Map();
      this.seen.set(key, steps);
    }
    const before = this.max([key]);
    steps.set(step, m);
    if (this.max([key]) !== before) for (const l of this.listeners) l(key);
  }

  /** The largest m over `keys`, or null when none was seen. */
  max(keys: readonly string[]): number | null {
    let out: number | null = null;
    for (const k of keys) {
      const steps = this.seen.get(k);
      if (!steps) continue;
      for (const m of steps.values()) if (out === null || m > out) out = m;
    }
    return out;
  }

  /** How many (key, step) pairs were seen over `keys`. */
  count(keys: readonly string[]): number {
    let n = 0;
    for (const k of keys) n += this.seen.get(k)?.size ?? 0;
    return n;
  }

  /** Forgets everything (e.g. the data changed under the same steps). */
  reset(): void {
    this.seen.clear();
  }

  /** Calls `fn(key)` whenever the maximum of `key` grew; returns an unsubscribe function. */
  subscribe(fn: (key: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/** The tracker key of one tensor's range: run, tensor and diff mode. */
export function rangeKey(run: string, tag: string, diff: string): string {
  return JSON.stringify([run, tag, diff]);
}

/**
 * The half-width to draw with and a note saying where it comes from.
 *
 * `stepM` is the shown step's own half-width; `keys` the tracker keys that share the
 * range (one tensor for "fixed", the layer's tensors for "layer"); `expected` how many
 * (tensor, step) pairs exist in total, to tell the user how complete the range is.
 */
export function chooseRange(
  mode: RangeMode,
  stepM: number,
  tracker: RangeTracker,
  keys: readonly string[],
  expected: number,
): { m: number; note: string } {
  if (mode === "step") return { m: stepM, note: "" };
  const seen = tracker.max(keys);
  const m = Math.max(stepM, seen ?? 0);
  const n = tracker.count(keys);
  const what = mode === "fixed" ? "steps" : "tensor-steps of this layer";
  const note = n >= expected ? `range over all ${expected} ${what}` : `range over the ${n} of ${expected} ${what} seen so far`;
  return { m, note };
}
