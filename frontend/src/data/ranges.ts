/**
 * The server's exact colour ranges (`GET ranges?run=&tag=`: max |x| of a tensor over all
 * its logged steps, per diff mode), fetched once per (run, tensor) and refetched when the
 * tensor's step count changes (a reload brought steps). One store is shared by every
 * card; model/colorrange.ts decides what to draw with them.
 *
 * Example:
 *   const store = new RangeStore();
 *   store.peek("a", "d/kernel", 20);        // undefined: not fetched yet
 *   await store.loadAll([{run: "a", tag: "d/kernel", steps: 20}]);
 *   store.peek("a", "d/kernel", 20);        // {none: 0.8, prev: 0.01, ...} (null if the request failed)
 */
import { fetchRanges } from "./api";
import type { Ranges } from "./types";

interface Entry {
  steps: number;
  value: Ranges | null | undefined;
  pending: Promise<void>;
}

export class RangeStore {
  private readonly cache = new Map<string, Entry>();

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
    const entry: Entry = { steps, value: undefined, pending: Promise.resolve() };
    entry.pending = fetchRanges(run, tag).then(
      (r) => void (entry.value = r),
      () => void (entry.value = null),
    );
    this.cache.set(key, entry);
    return entry.pending;
  }

  /** Resolves once the ranges of every source are known (or failed). */
  async loadAll(sources: readonly { run: string; tag: string; steps: number }[]): Promise<void> {
    await Promise.all(sources.map((s) => this.load(s.run, s.tag, s.steps)));
  }
}
