/**
 * Large models (ResNet-50's 107 layers, a transformer's blocks): the layers grouped into
 * blocks by their names' common prefixes, each block's status in one line, which layers a
 * filter keeps, and the heights the tab reserves for sections it has not drawn. Pure.
 *
 * Example:
 *   blockGroups(["conv1_conv", "conv1_bn", "conv2_block1_1_conv", "conv2_block1_1_bn", ...])
 *     -> [{name: "conv1", layers: ["conv1_conv", "conv1_bn"]}, {name: "conv2_block1", layers: [...]}, ...]
 *   blockGroups(["layer1.0.conv1", "layer1.0.bn1", "layer1.1.conv1", ...]) -> [{name: "layer1.0", ...}, ...]
 */
import type { Finding, OverviewRow } from "../data/types";
import { ratioHealth } from "./series";

/** More layer sections than this: the tab groups them into collapsed blocks and draws only those near the screen. */
export const LARGE_MODEL_LAYERS = 16;

/** A block of more layers than this is split by the next name part, when the parts are not too fine. */
const MAX_BLOCK = 6;
/** A split whose parts hold fewer layers than this on average is too fine (conv2_block1_0, _1, ...: pairs). */
const MIN_MEAN = 3;

export interface Block {
  /** The common prefix ("conv2_block1", "layer1.0"); runs of single layers are joined "a … b". */
  name: string;
  layers: string[];
}

/** True when `layers` layer sections are too many to draw at once (blocks, virtualised sections). */
export function isLargeModel(layers: number): boolean {
  return layers > LARGE_MODEL_LAYERS;
}

/**
 * A name's prefix of `parts` parts (parts split at "/", "." and "_"), without the separator
 * after it; the whole name when it has no more parts.
 *
 * Example: namePrefix("conv2_block1_1_conv", 2) === "conv2_block1"; namePrefix("layer1.0.bn1", 5) === "layer1.0.bn1".
 */
export function namePrefix(name: string, parts: number): string {
  const re = /[/._]/g;
  let k = 0;
  for (let m = re.exec(name); m; m = re.exec(name)) {
    k += 1;
    if (k === parts) return name.slice(0, m.index);
  }
  return name;
}

function partCount(name: string): number {
  return (name.match(/[/._]/g)?.length ?? 0) + 1;
}

/** Consecutive runs of `names` with the same prefix of `parts` parts. */
function runsByPrefix(names: readonly string[], parts: number): Block[] {
  const out: Block[] = [];
  for (const n of names) {
    const p = namePrefix(n, parts);
    const last = out[out.length - 1];
    if (last && last.name === p) last.layers.push(n);
    else out.push({ name: p, layers: [n] });
  }
  return out;
}

function split(names: readonly string[], parts: number, name: string): Block[] {
  if (names.length <= MAX_BLOCK) return [{ name, layers: [...names] }];
  const deepest = Math.max(...names.map(partCount));
  for (let p = parts; p < deepest; p++) {
    const groups = runsByPrefix(names, p);
    if (groups.length === 1) continue; // every name shares this part: look one deeper
    if (names.length / groups.length < MIN_MEAN) break; // too fine: keep the block whole
    return groups.flatMap((g) => split(g.layers, p + 1, g.name));
  }
  return [{ name, layers: [...names] }];
}

/**
 * `layers` (network order) in consecutive blocks: split by the first name part that tells
 * them apart, blocks of more than MAX_BLOCK layers split again by the next part unless
 * that gives mostly pairs; neighbouring single-layer blocks are joined into one.
 *
 * Example: blockGroups(["conv1", "bn1", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2", "layer1.0.bn2",
 *   "layer1.1.conv1", "layer1.1.bn1", "layer1.1.conv2", "layer1.1.bn2", "fc"])
 *   -> [{name: "conv1 … bn1", layers: ["conv1", "bn1"]}, {name: "layer1.0", ...}, {name: "layer1.1", ...}, {name: "fc", layers: ["fc"]}]
 */
export function blockGroups(layers: readonly string[]): Block[] {
  if (!layers.length) return [];
  const root = namePrefix(layers[0], 1);
  const shared = layers.every((l) => namePrefix(l, 1) === root);
  const whole = shared ? root : layers.length === 1 ? layers[0] : `${layers[0]} … ${layers[layers.length - 1]}`;
  const blocks = split(layers, 1, whole);
  const out: Block[] = [];
  for (const b of blocks) {
    const last = out[out.length - 1];
    const single = b.layers.length === 1;
    if (single && last && last.layers.length >= 1 && last.name.startsWith("\u0000")) {
      last.layers.push(b.layers[0]);
      continue;
    }
    out.push(single ? { name: "\u0000" + b.layers[0], layers: [...b.layers] } : b);
  }
  return out.map((b) => {
    if (!b.name.startsWith("\u0000")) return b;
    const ls = b.layers;
    return { name: ls.length === 1 ? ls[0] || "(ungrouped)" : `${ls[0]} … ${ls[ls.length - 1]}`, layers: ls };
  });
}

/** What a block header says about its layers, worst first. */
export type Status = "nan" | "error" | "warning" | "stopped" | "large" | "tiny" | "info" | "ok";
/** Worst first. */
export const STATUS_ORDER: readonly Status[] = ["nan", "error", "warning", "stopped", "large", "tiny", "info", "ok"];
export const STATUS_TEXT: Readonly<Record<Status, string>> = {
  nan: "\u2716\uFE0E NaN/Inf",
  error: "\u2716\uFE0E error",
  warning: "\u26A0\uFE0E warning",
  stopped: "\u25A0 stopped",
  large: "\u25B2 large updates",
  tiny: "\u25BC tiny updates",
  info: "\u2139\uFE0E note",
  ok: "\u2713 ok",
};

/** The worst of `statuses` (null: none known). Example: worstStatus(["ok", "tiny", "warning"]) === "warning". */
export function worstStatus(statuses: Iterable<Status | null | undefined>): Status | null {
  let best = STATUS_ORDER.length;
  for (const s of statuses) {
    if (!s) continue;
    const k = STATUS_ORDER.indexOf(s);
    if (k >= 0 && k < best) best = k;
  }
  return best < STATUS_ORDER.length ? STATUS_ORDER[best] : null;
}

/**
 * A block header's summary: counts and the worst status, with how many layers have it.
 *
 * Example: blockSummary(3, 5, ["ok", "warning", "warning"]) === "3 layers · 5 tensors · ⚠ warning (2)".
 */
export function blockSummary(layers: number, tensors: number, statuses: readonly (Status | null)[]): string {
  const worst = worstStatus(statuses);
  const n = worst ? statuses.filter((s) => s === worst).length : 0;
  const counts = `${layers} layer${layers === 1 ? "" : "s"} · ${tensors} tensor${tensors === 1 ? "" : "s"}`;
  if (!worst) return counts;
  return `${counts} · ${STATUS_TEXT[worst]}${worst !== "ok" && n > 1 ? ` (${n})` : ""}`;
}

/**
 * The layers of `tagsByLayer` with a tensor matching `re` (null: an invalid filter, none), in order.
 *
 * Example: matchingLayers(new Map([["a", ["a/k"]], ["b", ["b/k"]]]), /^b\//) -> ["b"].
 */
export function matchingLayers(tagsByLayer: ReadonlyMap<string, readonly string[]>, re: RegExp | null): string[] {
  if (!re) return [];
  return [...tagsByLayer].filter(([, tags]) => tags.some((t) => re.test(t))).map(([l]) => l);
}

/** A regular expression matching exactly the tensors of `layer` ("a.b" -> "^a\.b/"). */
export function layerFilter(layer: string): string {
  return `^${layer.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`;
}

/**
 * The height reserved for a layer section not drawn yet, in CSS pixels: its title, the
 * trajectory charts (when any tensor has them: update charts, distributions, traces) and
 * one row per heatmap tensor whose heatmap fits `width` (`grids`: [rows, cols] of each).
 *
 * Example: estimateSectionHeight({charts: false, grids: [], width: 600}) === 40.
 */
export function estimateSectionHeight(s: { charts: boolean; grids: readonly (readonly [number, number])[]; width: number; compact?: boolean }): number {
  let h = 40;
  if (s.charts) h += 300 + (s.compact ? 40 : 2 * 250);
  for (const [r, c] of s.grids) {
    const cell = Math.max(1, Math.min(24, s.width / Math.max(1, c)));
    h += 170 + Math.min(600, Math.max(20, r * cell));
  }
  return Math.round(h);
}

/**
 * Which of `tops`/`heights` (the sections' document tops and heights) lie within
 * `margin` px of the viewport [y, y + h]: the ones to draw.
 *
 * Example: nearViewport([0, 1000, 5000], [900, 900, 900], 1200, 800, 500) -> [true, true, false].
 */
export function nearViewport(tops: readonly number[], heights: readonly number[], y: number, h: number, margin: number): boolean[] {
  return tops.map((t, k) => t + heights[k] >= y - margin && t <= y + h + margin);
}

/**
 * Each layer's worst status: NaN/Inf in its latest weights (overview rows), its findings'
 * worst severity, its largest tensor's update health (vectors: only "stopped").
 *
 * Example: layerStatuses([[{layer: "d", severity: "warning"}]], [{name: "d/k", layer: "d", shape: [2, 2], parameters: 4, nonfinite: 0, update_ratio_per_step: 1e-3}])
 *   -> Map {"d" => "warning"}
 */
export function layerStatuses(
  findings: readonly (readonly Pick<Finding, "layer" | "severity">[])[],
  rows: readonly Pick<OverviewRow, "name" | "layer" | "shape" | "parameters" | "nonfinite" | "update_ratio_per_step">[],
): Map<string, Status> {
  const out = new Map<string, Status>();
  const put = (layer: string, s: Status | null) => {
    const w = worstStatus([out.get(layer), s]);
    if (w) out.set(layer, w);
  };
  const biggest = new Map<string, number>();
  for (const r of rows) {
    if ((r.nonfinite ?? 0) > 0) put(r.layer, "nan");
    if (r.parameters <= (biggest.get(r.layer) ?? -1)) continue;
    biggest.set(r.layer, r.parameters);
    const h = ratioHealth(r.update_ratio_per_step ?? null);
    if (h && (r.shape.length > 1 || h === "stopped")) put(r.layer, h);
  }
  for (const list of findings) {
    for (const f of list) {
      if (!f.layer) continue;
      const s = f.severity === "error" || f.severity === "warning" ? f.severity : "info";
      put(f.layer, s);
    }
  }
  return out;
}
