/**
 * What the tooltip says about one heatmap cell, a card's subtitle for its tensor, and the
 * module label a layer's heading shows. Pure, no DOM.
 *
 * Example (unpooled dense kernel [64, 10], cell (3, 7) = 0.25):
 *   describeCell(info, hm, 3, 7) ->
 *     {row: 3, col: 7, value: "0.25", valueLabel: "value", index: "[3, 7]",
 *      block: null, absmax: null, ...}
 */
import type { Heatmap, TagInfo } from "../data/types";
import { formatFloat32, formatIndex, formatRange, formatShape } from "./format";
import { cellBlock, gridToTensorIndex, layoutMatches, pooledShape, poolTiles } from "./grid";

export interface CellDescription {
  /** Row / column of the drawn (stored) cell; equal to the grid row / column when unpooled. */
  row: number;
  col: number;
  value: string;
  /** The raw float32 of plane 0. */
  raw: number;
  /** "value", "mean", "Δ value since step 10", ... */
  valueLabel: string;
  /** Tensor index of the cell ("[3, 17]"), or of the block's first and last cell when pooled. */
  index: string | null;
  /** Unpooled grid rows / columns of a pooled block ("rows 4–7, cols 8–9"), null when unpooled. */
  block: string | null;
  /** The signed value of largest |x| within the block, when the heatmap carries that plane. */
  absmax: string | null;
}

/** Describes stored cell (i, j) of `hm`, a heatmap of tag `info`. */
export function describeCell(info: TagInfo, hm: Heatmap, i: number, j: number): CellDescription {
  const k = i * hm.cols + j;
  const planeNames = hm.header.planes ?? info.planes;
  const raw = hm.planes[0][k];
  const pool = info.pool ?? [1, 1];
  const pooled = pool[0] > 1 || pool[1] > 1;
  let valueLabel = pooled ? "mean" : (planeNames[0] ?? "value");
  if (hm.header.diff && hm.header.diff !== "none") {
    valueLabel = `Δ ${valueLabel}` + (hm.header.base_step !== null && hm.header.base_step !== undefined ? ` since step ${hm.header.base_step}` : "");
  }
  const absPlane = planeNames.indexOf("absmax");
  const absmax = absPlane >= 0 && hm.planes[absPlane] ? formatFloat32(hm.planes[absPlane][k]) : null;
  const mappable = layoutMatches(info.shape, info.layout, info.grid);
  let index: string | null = null;
  let block: string | null = null;
  if (pooled) {
    const b = cellBlock(i, j, info.grid, pool);
    block = `rows ${formatRange(b.r0, b.r1)}, cols ${formatRange(b.c0, b.c1)}`;
    const tiles = mappable ? poolTiles(info.shape, info.layout, pool) : null;
    if (tiles) {
      // Whole tiles: the block is a range of in- and out-channels.
      const [th, tw] = [pool[0] / tiles[0], pool[1] / tiles[1]];
      const ch = (a: number, b: number, t: number) => formatRange(a / t, Math.ceil(b / t));
      block = `in ${ch(b.r0, b.r1, th)} × out ${ch(b.c0, b.c1, tw)} (whole ${th}×${tw} tiles; ${block})`;
    }
    if (mappable) {
      const first = formatIndex(gridToTensorIndex(b.r0, b.c0, info.shape, info.layout));
      const last = formatIndex(gridToTensorIndex(b.r1 - 1, b.c1 - 1, info.shape, info.layout));
      index = first === last ? first : `${first} … ${last}`;
    }
  } else if (mappable) {
    index = formatIndex(gridToTensorIndex(i, j, info.shape, info.layout));
  }
  return { row: i, col: j, value: formatFloat32(raw), raw, valueLabel, index, block, absmax };
}

/**
 * The card's subtitle: shape, dtype, pooling, gates and description.
 *
 * Example: tensorSubtitle({shape: [3, 4], dtype: "float32", grid: [3, 4], pool: [1, 1], ...}) === "shape 3 × 4 · float32"
 */
export function tensorSubtitle(info: TagInfo): string {
  const parts = [`shape ${formatShape(info.shape)}`, info.dtype];
  const pool = info.pool ?? [1, 1];
  if (pool[0] > 1 || pool[1] > 1) {
    const [pr, pc] = pooledShape(info.grid, pool);
    const tiles = info.layout && layoutMatches(info.shape, info.layout, info.grid) ? poolTiles(info.shape, info.layout, pool) : null;
    const each = tiles ? ` (each cell: mean of ${tiles[0]}×${tiles[1]} channel pairs, ${pool[0] / tiles[0]}×${pool[1] / tiles[1]} tiles)` : "";
    parts.push(`grid ${info.grid[0]}×${info.grid[1]} pooled ${pool[0]}×${pool[1]} → ${pr}×${pc}${each}`);
  }
  if (info.gates && info.gates.length) parts.push(`gates ${info.gates.join(" ")}`);
  if (info.description) parts.push(info.description);
  return parts.filter(Boolean).join(" · ");
}

/**
 * The module label of a tensor's description: the Keras callback and `watch` write the
 * layer's label, a space and the weight's own name ("Linear(20 -> 32) weight", "Dense
 * kernel"); the label is everything before the last space. "" when the description does
 * not end with the tensor's own name (free text from the Writer). An activation heatmap's
 * description ("Dense output (first 32 samples down, units across) activations") gives
 * the module before " output".
 *
 * Example: moduleLabel("0/weight", "Linear(20 -> 32) weight") === "Linear(20 -> 32)";
 *   moduleLabel("d/kernel", "my favourite layer") === "";
 *   moduleLabel("d/activations", "ReLU output (first 8 samples down, units across) activations") === "ReLU".
 */
export function moduleLabel(tag: string, description: string | null | undefined): string {
  const d = (description ?? "").trim();
  const activation = /^(.*) output \(.*\) activations$/.exec(d);
  if (activation && tag.endsWith("/activations")) return activation[1].trim();
  const cut = d.lastIndexOf(" ");
  if (cut <= 0) return "";
  const attr = d.slice(cut + 1);
  const own = tag.slice(tag.lastIndexOf("/") + 1);
  // Keras makes duplicate names unique with "_2", "_3": "kernel_2" still ends "kernel".
  if (own !== attr && !(own.startsWith(attr + "_") && /^\d+$/.test(own.slice(attr.length + 1)))) return "";
  return d.slice(0, cut).trim();
}

/** Lower case, letters and digits only, without a trailing "_3": "dense_1" -> "dense". */
function plainName(s: string): string {
  return s.toLowerCase().replace(/_\d+$/, "").replace(/[^a-z0-9]/g, "");
}

/**
 * What a layer's heading shows beside its name: the distinct module labels of its
 * tensors, joined with " / ", leaving out a label the name already says (Keras' default
 * names: "dense_1" is a Dense layer).
 *
 * Example: layerLabel("0", ["Linear(20 -> 32)", "Linear(20 -> 32)"]) === "Linear(20 -> 32)";
 *   layerLabel("mlp/dense_1", ["Dense"]) === ""; layerLabel("cnn/conv_2", ["Conv2D"]) === "Conv2D".
 */
export function layerLabel(layer: string, labels: readonly string[]): string {
  const name = plainName(layer.slice(layer.lastIndexOf("/") + 1));
  const distinct = [...new Set(labels.filter((l) => l && plainName(l) !== name))];
  return distinct.join(" / ");
}
