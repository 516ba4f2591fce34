/**
 * Layers of a run for the structure view: in network order, each with its type (the
 * first word of the Keras callback's description, e.g. "Dense", "Conv2D"), its tensors'
 * shapes, parameter count and the latest update ratio per step (`update_ratio_per_step`,
 * the findings' definition) and gradient ratio of its largest tensor
 * (the kernel: a bias's ratio says little, see views/overview.ts). Pure.
 *
 * Example:
 *   layerRows([{name: "d/kernel", layer: "d", shape: [4, 3], parameters: 12, update_ratio_per_step: 1e-3, update_steps: 10, ...},
 *              {name: "d/bias", layer: "d", shape: [3], parameters: 3, update_ratio_per_step: 2e-2, update_steps: 10, ...}],
 *             {"d/kernel": {description: "Dense weight kernel"}})
 *     -> [{layer: "d", type: "Dense", shapes: [[4, 3], [3]], parameters: 15, ratio: 1e-3, ratioSteps: 10, gradRatio: null, depth: 1}]
 */
import type { OverviewRow, TagInfo } from "../data/types";

export interface LayerRow {
  layer: string;
  type: string;
  shapes: number[][];
  parameters: number;
  /** Latest |dW|/|W| per step of the layer's largest tensor, null when unknown. */
  ratio: number | null;
  /** The optimizer steps that ratio was averaged over. */
  ratioSteps: number | null;
  /** Latest |g|/|W| of the same tensor, null without logged gradients. */
  gradRatio: number | null;
  /** 1-based position in network order. */
  depth: number;
}

/** The layer type named by a description such as "Dense weight kernel", or "". */
export function layerType(description: string | undefined): string {
  const m = /^([A-Z][A-Za-z0-9_]*)\b/.exec(description ?? "");
  return m ? m[1] : "";
}

/** `rows` (already in network order) grouped into layers; see the module example. */
export function layerRows(rows: readonly OverviewRow[], tags: Record<string, Pick<TagInfo, "description">>): LayerRow[] {
  const out = new Map<string, LayerRow & { biggest: number }>();
  for (const r of rows) {
    let l = out.get(r.layer);
    if (!l) {
      l = { layer: r.layer, type: "", shapes: [], parameters: 0, ratio: null, ratioSteps: null, gradRatio: null, depth: out.size + 1, biggest: -1 };
      out.set(r.layer, l);
    }
    l.shapes.push([...r.shape]);
    l.parameters += Number.isFinite(r.parameters) ? r.parameters : 0;
    if (!l.type) l.type = layerType(tags[r.name]?.description);
    if (r.parameters > l.biggest) {
      l.biggest = r.parameters;
      l.ratio = r.update_ratio_per_step ?? null;
      l.ratioSteps = r.update_steps ?? null;
      l.gradRatio = r.grad_ratio ?? null;
    }
  }
  return [...out.values()].map(({ biggest: _b, ...l }) => l);
}
