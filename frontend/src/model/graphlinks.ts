/**
 * Where a click on a box of the network diagram lands: its layer's section (a weight
 * tensor of the layer); for a box without weights of its own (an activation module or
 * function, an add, a dropout, the input), its activation heatmap's section when the run
 * logged one (`<layer>/activations`), else the section of the nearest layer with weights
 * along the edges (model/graph.ts nearestNode), which the view names.
 *
 * Example:
 *   const anchors = clickAnchors(tags.runs["branchy"]);   // {weights: {"a" => "a/bias", ...}, activations: ["act/activations"]}
 *   linkOf(addItem, record, anchors) -> {tag: "up/bias", kind: "nearest", via: "up"}
 */
import type { TagInfo } from "../data/types";
import { isActivationTag } from "./activations";
import { type GraphNode, type GraphRecord, type VisItem, nearestNode } from "./graph";

export interface Link {
  tag: string;
  kind: "layer" | "activations" | "nearest";
  /** The layer landed on when it is not the box's own. */
  via: string | null;
}

/** A run's anchors: each layer's first weight tensor (its section), and its activation heatmaps. */
export interface ClickAnchors {
  weights: Map<string, string>;
  activations: string[];
}

export function clickAnchors(tags: Record<string, Pick<TagInfo, "group">>): ClickAnchors {
  const weights = new Map<string, string>();
  const activations: string[] = [];
  for (const [tag, info] of Object.entries(tags)) {
    if ((info as { of?: string | null }).of === "activations" || isActivationTag(tag)) {
      activations.push(tag);
      continue;
    }
    const group = info.group ?? tag.slice(0, Math.max(0, tag.lastIndexOf("/")));
    if (!weights.has(group)) weights.set(group, tag);
  }
  return { weights, activations };
}

/**
 * Where a click on `item` lands; null for a block (it opens) and when nothing logged is
 * connected to it.
 *
 * Example: linkOf(reluModuleItem, record, {weights: new Map(), activations: ["act/activations"]})
 *   -> {tag: "act/activations", kind: "activations", via: null}
 */
export function linkOf(item: VisItem, record: GraphRecord, anchors: ClickAnchors): Link | null {
  const n = item.node;
  if (!n) return null;
  const own = n.function ? undefined : anchors.weights.get(n.layer);
  if (own) return { tag: own, kind: "layer", via: null };
  // A module called twice (`relu:1`) logs its activations under its name; a function under
  // `<block>/<op>`; Keras a layer without weights under `<model>/<layer>`.
  for (const c of [n.name.replace(/:\d+$/, ""), n.function ? "" : n.layer]) {
    if (!c) continue;
    const t = anchors.activations.find((a) => a === `${c}/activations`) ?? anchors.activations.find((a) => a.endsWith(`/${c}/activations`));
    if (t) return { tag: t, kind: "activations", via: null };
  }
  const near = nearestNode(record, n.name, (m: GraphNode) => !m.function && anchors.weights.has(m.layer));
  return near ? { tag: anchors.weights.get(near.layer)!, kind: "nearest", via: near.name } : null;
}
