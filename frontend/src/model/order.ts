/**
 * Network order: the order the writer logged the weights in (the `index` field of `tags`),
 * used for layers, cards, overview rows and selects. Logs from writers that did not
 * record it keep the server's (alphabetical) order. Pure.
 *
 * Example:
 *   networkOrder({"b/k": {index: 0}, "a/k": {index: 1}}) -> ["b/k", "a/k"]
 *   networkOrder({"b/k": {}, "a/k": {}})                 -> ["b/k", "a/k"] (as given)
 */
import type { TagInfo } from "../data/types";

type Indexed = Pick<TagInfo, "index">;

/** The tensor names of one run in network order; tensors without an index go last, as given. */
export function networkOrder(tags: Record<string, Indexed>): string[] {
  const names = Object.keys(tags);
  const pos = (n: string) => {
    const i = tags[n]?.index;
    return typeof i === "number" && Number.isFinite(i) ? i : Infinity;
  };
  return names.map((n, k) => [n, k] as const).sort((a, b) => pos(a[0]) - pos(b[0]) || a[1] - b[1]).map(([n]) => n);
}

/**
 * Sorts `items` by the network order of their tensor name over several runs' tags
 * (the first run that has the tensor decides); unknown names keep their place at the end.
 *
 * Example: byNetworkOrder([{name: "a/k"}, {name: "b/k"}], (x) => x.name, [{"b/k": {index: 0}, "a/k": {index: 1}}])
 *   -> [{name: "b/k"}, {name: "a/k"}]
 */
export function byNetworkOrder<T>(items: readonly T[], name: (x: T) => string, runsTags: readonly Record<string, Indexed>[]): T[] {
  const rank = new Map<string, number>();
  for (const tags of runsTags) networkOrder(tags).forEach((n) => rank.has(n) || rank.set(n, rank.size));
  const r = (x: T) => rank.get(name(x)) ?? Infinity;
  return items.map((x, k) => [x, k] as const).sort((a, b) => r(a[0]) - r(b[0]) || a[1] - b[1]).map(([x]) => x);
}

/**
 * The selected runs grouped by model: a run joins the first group with which it shares a
 * trajectory tensor (same name and shape); runs that share none are different models, and
 * a joint weight-space PCA over them would mix unrelated parameters. (A run logging an
 * extra tensor stays with its model.)
 *
 * Example: architectureGroups({a: {"d/k": {shape: [2, 2], has_trajectory: true}},
 *                              b: {"d/k": {shape: [2, 2], has_trajectory: true}},
 *                              c: {"e/k": {shape: [3], has_trajectory: true}}}, ["a", "b", "c"])
 *   -> [["a", "b"], ["c"]]
 */
export function architectureGroups(
  tagsByRun: Record<string, Record<string, Pick<TagInfo, "shape" | "has_trajectory">>>,
  runs: readonly string[],
): string[][] {
  const groups: { runs: string[]; keys: Set<string> }[] = [];
  for (const run of runs) {
    const tags = tagsByRun[run] ?? {};
    const keys = Object.keys(tags)
      .filter((t) => tags[t].has_trajectory)
      .map((t) => JSON.stringify([t, tags[t].shape]));
    const home = groups.find((g) => keys.some((k) => g.keys.has(k)));
    if (home) {
      home.runs.push(run);
      for (const k of keys) home.keys.add(k);
    } else groups.push({ runs: [run], keys: new Set(keys) });
  }
  return groups.map((g) => g.runs);
}
