/**
 * The network diagram's model: which nodes and edges are drawn with some blocks closed,
 * their labels (what `keras.utils.plot_model(show_shapes=True, show_layer_activations=True,
 * show_trainable=True)` shows), and their layout by dagre (a directed, layered layout).
 * Pure: the view (views/graph.ts) measures text and draws.
 *
 * Example:
 *   const g = withNameBlocks(record);                    // Keras ResNet-50: conv2 > conv2_block1 > ...
 *   const vis = visibleGraph(g, initialClosed(g));       // a large model opens with its blocks closed
 *   const lay = layoutGraph(vis, (id) => ({ width: 180, height: 44 }));
 *   lay.nodes.get("fc") -> { x, y, width, height }; lay.edges[0].points -> [{x, y}, ...]
 */
import dagre from "@dagrejs/dagre";
import type { Finding, OverviewRow, TagInfo } from "../data/types";
import { looksBroken } from "./broken";
import { formatCount } from "./format";
import { layerRows } from "./layerstats";
import { type Health, ratioHealth } from "./series";

/** One node of the `graph` route's record (docs/format.md, "Model graph"). */
export interface GraphNode {
  name: string;
  layer: string;
  type: string;
  parent: string | null;
  activation: string | null;
  inputs: (number | null)[][];
  outputs: (number | null)[][];
  dtype: string | null;
  params: number;
  trainable: boolean | "partial" | null;
  function: boolean;
}

export interface GraphBlock {
  name: string;
  type: string;
  parent: string | null;
  params?: number;
  /** Made by withNameBlocks from layer names (Keras' flat applications) or withRepeatBlocks, not logged. */
  derived?: boolean;
  /** A withRepeatBlocks block: how many alike blocks it folds. */
  repeat?: number;
}

export interface GraphRecord {
  version: number;
  framework: string;
  model: string;
  connections: "known" | "unknown";
  nodes: GraphNode[];
  blocks: GraphBlock[];
  edges: [string, string][];
  truncated?: number;
}

/** A model with more nodes opens with its blocks closed. */
export const OPEN_ALL_MAX = 60;

/**
 * Blocks derived from layer names for a graph whose layers sit at the top level (Keras'
 * applications are flat): `conv2_block1_1_conv` sits in block `conv2_block1` inside stage
 * `conv2`; `block_3_expand` (MobileNetV2) in `block_3`; `block2a_expand_conv` (EfficientNet)
 * in `block2a`. Kept only for a model above OPEN_ALL_MAX nodes and blocks of 2 or more nodes.
 *
 * Example: withNameBlocks(resnet50).blocks.map((b) => b.name).slice(0, 2) -> ["conv2", "conv2_block1"]
 */
export function withNameBlocks(g: GraphRecord): GraphRecord {
  if (g.nodes.length <= OPEN_ALL_MAX || g.nodes.some((n) => n.parent !== null)) return g;
  const re = /^((?:(.+?)_)?block_?\d+[a-z]?)_/;
  const count = new Map<string, number>();
  const stageOf = new Map<string, string | null>();
  for (const n of g.nodes) {
    const m = re.exec(n.name);
    if (!m) continue;
    count.set(m[1], (count.get(m[1]) ?? 0) + 1);
    stageOf.set(m[1], m[2] ?? null);
  }
  const kept = new Set([...count].filter(([, c]) => c >= 2).map(([b]) => b));
  if (!kept.size) return g;
  const blocks: GraphBlock[] = [];
  const seen = new Set<string>();
  const stageCount = new Map<string, number>();
  for (const b of kept) {
    const s = stageOf.get(b);
    if (s) stageCount.set(s, (stageCount.get(s) ?? 0) + 1);
  }
  for (const b of kept) {
    const s = stageOf.get(b) ?? null;
    const stage = s !== null && (stageCount.get(s) ?? 0) >= 2 ? s : null;
    if (stage !== null && !seen.has(stage)) {
      seen.add(stage);
      blocks.push({ name: stage, type: "stage", parent: null, derived: true });
    }
    blocks.push({ name: b, type: "block", parent: stage, derived: true });
  }
  const nodes = g.nodes.map((n) => {
    const m = re.exec(n.name);
    return m && kept.has(m[1]) ? { ...n, parent: m[1] } : n;
  });
  return { ...g, nodes, blocks: [...g.blocks, ...blocks] };
}

/** The blocks a graph opens with closed: every block of a model above OPEN_ALL_MAX nodes, else none. */
export function initialClosed(g: GraphRecord): Set<string> {
  return new Set(g.nodes.length > OPEN_ALL_MAX ? g.blocks.map((b) => b.name) : []);
}

/** One drawn box: a node, or a closed block standing for every node inside it. */
export interface VisItem {
  id: string;
  node: GraphNode | null;
  block: GraphBlock | null;
  /** The graph nodes it stands for (itself for a node). */
  members: GraphNode[];
  /** The open block it is drawn in (null: the top). */
  parent: string | null;
}

export interface VisGraph {
  items: VisItem[];
  edges: [string, string][];
  /** Open blocks that hold something drawn, with their open parent. */
  clusters: { block: GraphBlock; parent: string | null }[];
}

/**
 * What is drawn with the blocks in `closed` closed: a closed block (the outermost closed
 * one on a node's chain) is one item for every node inside it; edges run between the
 * drawn items, once per pair, none inside one item.
 *
 * Example: visibleGraph({nodes: [a, b (parent "blk"), c (parent "blk")], edges: [[a,b],[b,c]], blocks: [blk]}, new Set(["blk"]))
 *   -> items a and "blk" (members b, c), edges [["a", "blk"]]
 */
export function visibleGraph(g: GraphRecord, closed: ReadonlySet<string>): VisGraph {
  const blocks = new Map(g.blocks.map((b) => [b.name, b]));
  const chain = (parent: string | null): string[] => {
    const out: string[] = [];
    for (let p = parent; p !== null && blocks.has(p) && !out.includes(p); p = blocks.get(p)!.parent) out.unshift(p);
    return out; // outermost first
  };
  const itemOf = new Map<string, string>();
  const items = new Map<string, VisItem>();
  const usedClusters = new Set<string>();
  const firstCall = sharedCalls(g);
  for (const n of g.nodes) {
    const first = firstCall.get(n.name);
    if (first !== undefined && itemOf.has(first)) {
      // A shared layer's later call: drawn in its first call's box, its edges there.
      const id = itemOf.get(first)!;
      items.get(id)!.members.push(n);
      itemOf.set(n.name, id);
      continue;
    }
    const ch = chain(n.parent);
    const k = ch.findIndex((b) => closed.has(b));
    if (k >= 0) {
      const id = ch[k];
      let item = items.get(id);
      if (!item) {
        item = { id, node: null, block: blocks.get(id)!, members: [], parent: k > 0 ? ch[k - 1] : null };
        items.set(id, item);
      }
      item.members.push(n);
      itemOf.set(n.name, id);
      ch.slice(0, k).forEach((b) => usedClusters.add(b));
    } else {
      items.set(n.name, { id: n.name, node: n, block: null, members: [n], parent: ch.length ? ch[ch.length - 1] : null });
      itemOf.set(n.name, n.name);
      ch.forEach((b) => usedClusters.add(b));
    }
  }
  const seen = new Set<string>();
  const edges: [string, string][] = [];
  for (const [a, b] of g.edges) {
    const x = itemOf.get(a);
    const y = itemOf.get(b);
    if (x === undefined || y === undefined || x === y) continue;
    const key = JSON.stringify([x, y]);
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push([x, y]);
  }
  const clusters = g.blocks.filter((b) => usedClusters.has(b.name) && !closed.has(b.name)).map((block) => ({ block, parent: block.parent }));
  return { items: [...items.values()], edges, clusters };
}

/**
 * The later calls of shared layers, each mapped to the layer's first call: nodes that use
 * the same weights (`layer`) of a layer with parameters (a Keras layer called twice, a
 * PyTorch module with weights called twice) are one box, as plot_model draws a shared
 * layer once. A stateless module called twice (ResNet's `relu`) keeps a box per call:
 * merging those would fold the data flow into loops without saying anything about weights.
 *
 * Example: sharedCalls({nodes: [shared, shared:1 (layer "shared", 72 params)], ...}) -> Map {"shared:1" => "shared"}
 */
export function sharedCalls(g: GraphRecord): Map<string, string> {
  const first = new Map<string, string>();
  const out = new Map<string, string>();
  for (const n of g.nodes) {
    if (n.function || !n.params || !n.layer) continue;
    const f = first.get(n.layer);
    if (f === undefined) first.set(n.layer, n.name);
    else out.set(n.name, f);
  }
  return out;
}

/** A shape as plot_model writes it: `(None, 64)`; several joined by ", ", equal ones counted (`2× (None, 64)`: an Add's). */
export function shapeText(shapes: readonly (readonly (number | null)[])[]): string {
  const texts = shapes.map((s) => `(${s.map((d) => (d === null ? "None" : String(d))).join(", ")})`);
  if (texts.length > 1 && texts.every((t) => t === texts[0])) return `${texts.length}× ${texts[0]}`;
  return texts.join(", ");
}

/**
 * The lines of a drawn item: name and type; input and output shapes; activation, parameters
 * and trainable (plot_model's show_shapes, show_layer_activations, show_trainable). A closed
 * block: its name, type and what it holds.
 *
 * Example: itemLines(dense) -> ["dense_1 · Dense", "(None, 64) → (None, 64)", "relu · 4,160 params · trainable"]
 */
export function itemLines(item: VisItem): string[] {
  if (item.block) {
    const params = item.members.reduce((s, n) => s + (n.params || 0), 0);
    const first = item.members[0];
    const last = item.members[item.members.length - 1];
    const io = first && last && (first.inputs.length || last.outputs.length) ? [`${shapeText(first.inputs) || "–"} → ${shapeText(last.outputs) || "–"}`] : [];
    return [`▸ ${item.id} · ${item.block.type}`, ...io, `${item.members.length} layers · ${formatCount(params)} params`];
  }
  const n = item.node!;
  const head = `${n.name} · ${n.type}`;
  const calls = item.members.length > 1 ? [`shared: ${item.members.length} calls`] : [];
  const io = n.inputs.length || n.outputs.length ? [`${shapeText(n.inputs) || "–"} → ${shapeText(n.outputs) || "–"}`] : [];
  const tail: string[] = [];
  if (n.activation && n.activation !== n.type) tail.push(n.activation);
  if (n.params) tail.push(`${formatCount(n.params)} params`);
  if (n.trainable === false) tail.push("frozen");
  else if (n.trainable === "partial") tail.push("partly frozen");
  else if (n.trainable === true) tail.push("trainable");
  return [head, ...io, ...(tail.length ? [tail.join(" · ")] : []), ...calls];
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Layout {
  nodes: Map<string, Box>;
  clusters: Map<string, Box>;
  /** Where each open block's name is drawn (laid out as a node at the top of its frame). */
  labels: Map<string, Box>;
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
  width: number;
  height: number;
}

/** Spacing of the layout (px). */
export const SPACING = { nodesep: 14, ranksep: 22, edgesep: 8, margin: 8 };
/** Between an open block's name and its first box (px). */
const LABEL_GAP = 6;

/**
 * Lays `vis` out top to bottom with dagre (open blocks as compound clusters); boxes are
 * centred at (x, y) as dagre gives them. With `labelSizeOf`, each open block's name gets
 * room of that size inside its frame, left of the frame's first box (one fed from outside
 * it), level with its top: dagre lays that box out wider by the names' width, and the box
 * is drawn on the right of that room. So no box or name is drawn over a name, and the edge
 * coming into the block reaches its first box from above without crossing the name.
 * (Dagre keeps no room for cluster labels; names laid out as nodes of their own pulled each
 * block of a chain sideways, and names above the first box sat across the incoming edge.)
 */
export function layoutGraph(
  vis: VisGraph,
  sizeOf: (item: VisItem) => { width: number; height: number },
  labelSizeOf?: (block: GraphBlock) => { width: number; height: number },
): Layout {
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
  g.setGraph({ rankdir: "TB", nodesep: SPACING.nodesep, ranksep: SPACING.ranksep, edgesep: SPACING.edgesep, marginx: SPACING.margin, marginy: SPACING.margin });
  g.setDefaultEdgeLabel(() => ({}));
  const clusterId = (name: string) => `\u0000block:${name}`;
  const open = new Set(vis.clusters.map((c) => c.block.name));
  const heads = labelSizeOf ? labelRoom(vis, open) : new Map<string, string[]>();
  const labelSize = new Map(labelSizeOf ? vis.clusters.map((c) => [c.block.name, labelSizeOf(c.block)]) : []);
  for (const c of vis.clusters) g.setNode(clusterId(c.block.name), { label: c.block.name });
  for (const c of vis.clusters) if (c.parent !== null && open.has(c.parent)) g.setParent(clusterId(c.block.name), clusterId(c.parent));
  const sizes = new Map<string, { width: number; height: number }>();
  for (const item of vis.items) {
    const size = sizeOf(item);
    const names = (heads.get(item.id) ?? []).map((b) => labelSize.get(b)!);
    const room = names.length ? Math.max(...names.map((l) => l.width)) + LABEL_GAP : 0;
    sizes.set(item.id, size);
    g.setNode(item.id, { width: size.width + room, height: Math.max(size.height, names.reduce((s, l) => s + l.height, 0)) });
    if (item.parent !== null && open.has(item.parent)) g.setParent(item.id, clusterId(item.parent));
  }
  for (const [a, b] of vis.edges) g.setEdge(a, b);
  dagre.layout(g);
  const nodes = new Map<string, Box>();
  const labels = new Map<string, Box>();
  for (const item of vis.items) {
    const n = g.node(item.id);
    const { width, height } = sizes.get(item.id)!;
    const top = n.y - n.height / 2;
    nodes.set(item.id, { x: n.x + n.width / 2 - width / 2, y: top + height / 2, width, height });
    let y = top;
    for (const b of heads.get(item.id) ?? []) {
      const l = labelSize.get(b)!;
      // The first of the frame's first boxes (topmost, then leftmost) carries its name.
      const prev = labels.get(b);
      const at = { x: n.x - n.width / 2 + l.width / 2, y: y + l.height / 2, width: l.width, height: l.height };
      if (!prev || at.y < prev.y - 0.5 || (Math.abs(at.y - prev.y) <= 0.5 && at.x < prev.x)) labels.set(b, at);
      y += l.height;
    }
  }
  const clusters = new Map<string, Box>();
  for (const c of vis.clusters) {
    const n = g.node(clusterId(c.block.name));
    if (n && typeof n.x === "number") clusters.set(c.block.name, { x: n.x, y: n.y, width: n.width ?? 0, height: n.height ?? 0 });
  }
  // Edges end on the drawn box (right of its names' room), not on the laid-out one.
  const onBox = (p: { x: number; y: number }, box: Box, end: "top" | "bottom") => ({
    x: Math.max(box.x - box.width / 2 + 2, Math.min(box.x + box.width / 2 - 2, p.x)),
    y: end === "top" ? Math.max(p.y, box.y - box.height / 2) : Math.min(p.y, box.y + box.height / 2),
  });
  const edges = vis.edges.map(([from, to]) => {
    const points = (g.edge(from, to)?.points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y }));
    if (points.length >= 2) {
      points[0] = onBox(points[0], nodes.get(from)!, "bottom");
      points[points.length - 1] = onBox(points[points.length - 1], nodes.get(to)!, "top");
    }
    return { from, to, points };
  });
  const label = g.graph();
  return { nodes, clusters, labels, edges, width: label.width ?? 0, height: label.height ?? 0 };
}

/**
 * The open blocks whose names sit above each drawn item, outermost first: a block's name sits
 * above its first items (drawn items in it that no other item in it feeds), through the
 * first items of an inner block that comes first.
 */
function labelRoom(vis: VisGraph, open: ReadonlySet<string>): Map<string, string[]> {
  const parentOf = new Map<string, string | null>();
  for (const i of vis.items) parentOf.set(i.id, i.parent !== null && open.has(i.parent) ? i.parent : null);
  const blockParent = new Map(vis.clusters.map((c) => [c.block.name, c.parent !== null && open.has(c.parent) ? c.parent : null]));
  const chain = (id: string): string[] => {
    const out: string[] = [];
    for (let p = parentOf.get(id) ?? null; p !== null && !out.includes(p); p = blockParent.get(p) ?? null) out.unshift(p);
    return out; // outermost first
  };
  const fedInside = new Map<string, Set<string>>(); // item -> the blocks in which something feeds it
  for (const [a, b] of vis.edges) {
    const ca = new Set(chain(a));
    for (const blk of chain(b)) if (ca.has(blk)) fedInside.set(b, (fedInside.get(b) ?? new Set()).add(blk));
  }
  const out = new Map<string, string[]>();
  for (const i of vis.items) {
    const fed = fedInside.get(i.id) ?? new Set<string>();
    const ch = chain(i.id);
    // From the innermost block out, while the item is first in it.
    const above: string[] = [];
    for (let k = ch.length - 1; k >= 0 && !fed.has(ch[k]); k--) above.unshift(ch[k]);
    if (above.length) out.set(i.id, above);
  }
  return out;
}

/**
 * The node nearest to `name` along the edges for which `has` holds: at each distance its
 * inputs' side first (a dropout's or an activation's layer is the one before it), then its
 * outputs' (a model input's first layer); null when none is connected.
 *
 * Example: nearestNode(chain x -> dense -> relu, "relu", (n) => n.params > 0)?.name === "dense"
 */
export function nearestNode(g: GraphRecord, name: string, has: (n: GraphNode) => boolean): GraphNode | null {
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const ins = new Map<string, string[]>();
  const outs = new Map<string, string[]>();
  for (const [a, b] of g.edges) {
    ins.set(b, [...(ins.get(b) ?? []), a]);
    outs.set(a, [...(outs.get(a) ?? []), b]);
  }
  const sides = [ins, outs].map((next) => ({ next, seen: new Set([name]), front: [name] }));
  while (sides.some((s) => s.front.length)) {
    for (const side of sides) {
      const front: string[] = [];
      for (const n of side.front) {
        for (const m of side.next.get(n) ?? []) {
          if (side.seen.has(m)) continue;
          side.seen.add(m);
          front.push(m);
        }
      }
      side.front = front;
      const hit = front.map((m) => byName.get(m)).find((m) => m !== undefined && has(m));
      if (hit) return hit;
    }
  }
  return null;
}

/** A drawn item's status: the structure view's update-ratio health, or "nan" (NaN/Inf weights). */
export type GraphHealth = Health | "nan";

/** Worst first: a closed block shows its worst member's status. */
const HEALTH_RANK: GraphHealth[] = ["nan", "stopped", "large", "tiny", "ok"];

/**
 * Each layer's status from the overview's rows, as the structure view judges it: the
 * latest update ratio of its largest tensor (layerRows), or "nan" when a tensor of it
 * looks broken (NaN/Inf weights).
 *
 * Example: layerHealth([{name: "d/kernel", layer: "d", update_ratio_per_step: 0, ...}], tags).get("d") === "stopped"
 */
export function layerHealth(rows: readonly OverviewRow[], tags: Record<string, Pick<TagInfo, "description">>): Map<string, GraphHealth> {
  const out = new Map<string, GraphHealth>();
  for (const l of layerRows(rows, tags)) {
    const h = ratioHealth(l.ratio);
    if (h) out.set(l.layer, h);
  }
  for (const r of rows) if (looksBroken(r)) out.set(r.layer, "nan");
  return out;
}

/** The status of a drawn item: its layer's, or a closed block's worst member's; null when none is known. */
export function itemHealth(item: VisItem, health: ReadonlyMap<string, GraphHealth>): GraphHealth | null {
  let best: GraphHealth | null = null;
  for (const n of item.members) {
    const h = health.get(n.layer);
    if (h && (best === null || HEALTH_RANK.indexOf(h) < HEALTH_RANK.indexOf(best))) best = h;
  }
  return best;
}

/** The findings on a drawn item's layers, most severe first. */
export function itemFindings(item: VisItem, findings: readonly Finding[]): Finding[] {
  const layers = new Set(item.members.map((n) => n.layer));
  const order = ["error", "warning", "info"];
  const rank = (s: string) => (order.includes(s) ? order.indexOf(s) : order.length);
  return findings
    .filter((f) => (f.layer !== null && layers.has(f.layer)) || f.tensors.some((t) => layers.has(t.slice(0, Math.max(0, t.lastIndexOf("/"))))))
    .sort((a, b) => rank(a.severity) - rank(b.severity));
}

/** A layer's logged points (its largest tensor's trajectory) for replaying the colouring over training. */
export interface LayerSeries {
  steps: readonly number[];
  /** |dW|/|W| per optimizer step at each point (null at the first, or where undefined). */
  ratio: readonly (number | null)[];
  /** The weights' norm at each point (null: NaN/Inf weights). */
  norm: readonly (number | null)[];
}

/**
 * A layer's status at `step`: from its last point at or before `step` ("nan" when its norm is
 * not finite there); null before its first ratio.
 *
 * Example: healthAt({steps: [0, 10, 20], ratio: [null, 1e-3, 0], norm: [1, 1, 1]}, 15) === "ok"
 */
export function healthAt(series: LayerSeries, step: number): GraphHealth | null {
  let i = -1;
  for (let k = 0; k < series.steps.length && series.steps[k] <= step; k++) i = k;
  if (i < 0) return null;
  if (series.norm[i] === null) return "nan";
  return ratioHealth(series.ratio[i]);
}

/** Every layer's status at `step` (layers without one are left out). */
export function healthMapAt(series: ReadonlyMap<string, LayerSeries>, step: number): Map<string, GraphHealth> {
  const out = new Map<string, GraphHealth>();
  for (const [layer, s] of series) {
    const h = healthAt(s, step);
    if (h) out.set(layer, h);
  }
  return out;
}

/** The steps any layer logged, in order. */
export function seriesSteps(series: ReadonlyMap<string, LayerSeries>): number[] {
  return [...new Set([...series.values()].flatMap((s) => [...s.steps]))].sort((a, b) => a - b);
}

/** Each layer's largest tensor (the one its status follows, as in the structure view). */
export function largestTensors(rows: readonly OverviewRow[]): Map<string, string> {
  const best = new Map<string, OverviewRow>();
  for (const r of rows) {
    const b = best.get(r.layer);
    if (!b || r.parameters > b.parameters) best.set(r.layer, r);
  }
  return new Map([...best].map(([layer, r]) => [layer, r.name]));
}
