/**
 * Network order: the order the writer logged the weights in (the `index` field of `tags`),
 * used for layers, cards, overview rows and selects. Logs from writers that did not
 * record it keep the server's (alphabetical) order. Pure.
 *
 * Example:
 *   networkOrder({"b/k": {index: 0}, "a/k": {index: 1}}) -> ["b/k", "a/k"]
 *   networkOrder({"b/k": {}, "a/k": {}})                 -> ["b/k", "a/k"] (as given)
 */
import type { TagInfo } from "./types";

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
