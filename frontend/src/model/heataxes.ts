/**
 * What a heatmap's rows and columns are, from the layout its metadata carries
 * (`tb_nnviz.reduce.grid_layout`): the axis labels around a card's heatmap and in its
 * PNG. Pure, no DOM.
 *
 * - `matrix` (a Keras or Flax kernel `(in, out)`) and `transposed` (PyTorch's `(out, in)`
 *   drawn as `(in, out)`): the layer's inputs down, its units across.
 * - `vector` (a bias): 1 × n, one cell per unit.
 * - `conv`, `conv_first`: kh × kw tiles, in-channels down, out-channels across (a
 *   transposed convolution's kernel has its out-channels down; its description says so).
 * - gates (LSTM i f c o, GRU r z n, attention q k v): the units across, by gate.
 * - `split:K`, a bias of rank 2 (Keras' GRU with reset_after) and anything else: the
 *   tensor's axes down and across.
 *
 * Example:
 *   heatAxes({shape: [64, 32], layout: {kind: "matrix", rows: [0], cols: [1]}, gates: null})
 *     -> {rows: "inputs (64)", rowsShort: "in (64)", cols: "units (32)", tiles: null, title: "Rows: the layer's 64 inputs ..."}
 *   heatAxes({shape: [3, 3, 8, 16], layout: {kind: "conv", rows: [2, 0], cols: [3, 1]}, gates: null}).tiles
 *     === "3 × 3 tiles (kh × kw), one per in/out channel pair"
 *   heatAxes({shape: [3, 3, 64, 64], layout: {kind: "conv", rows: [2, 0], cols: [3, 1]}, gates: null, pool: [2, 2]}).tiles
 *     === "3 × 3 tiles (kh × kw) pooled 2×2: each cell is the mean of a 2 × 2 block of the tile grid; hover shows the block"
 *     (an older log's pooling); pooled by whole tiles, pool [6, 6]:
 *     "pooled by whole tiles: each cell: mean of 2×2 channel pairs (3×3 tiles); hover shows the block"
 */
import type { TagInfo } from "../data/types";
import { poolTiles } from "./grid";

export interface HeatAxes {
  /** What runs down the rows; null for a single row (a vector). */
  rows: string | null;
  /** The same in short, for heatmaps too short for `rows` ("in (64)", "out (8)", "axis 0"). */
  rowsShort: string | null;
  /** What runs across the columns. */
  cols: string;
  /** What one tile is (conv kernels), else null. */
  tiles: string | null;
  /** The same in one sentence, with the tensor axes (tooltips). */
  title: string;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** "axis 0 (64)", "axes 1, 2 (4 × 16)". */
function axesText(shape: readonly number[], axes: readonly number[]): string {
  const sizes = axes.map((a) => shape[a]);
  return axes.length === 1 ? `axis ${axes[0]} (${sizes[0]})` : `axes ${axes.join(", ")} (${sizes.join(" × ")})`;
}

/** "units (32)", or by gate: "units (4 × 32: i f c o)". */
function unitsText(n: number, gates: readonly string[] | null | undefined): string {
  if (gates && gates.length > 1 && n % gates.length === 0) return `units (${gates.length} × ${n / gates.length}: ${gates.join(" ")})`;
  return `units (${n})`;
}

/** Names of the spatial axes of a kernel with `s` of them: kw; kh, kw; kd, kh, kw. */
function spatialNames(s: number): string[] {
  const names = ["kd", "kh", "kw"];
  return s <= 3 ? names.slice(3 - s) : Array.from({ length: s }, (_, k) => `k${k}`);
}

/** True for a transposed convolution's kernel (its channel axes are swapped): by its description. */
function isTransposedConv(description: string | undefined): boolean {
  return /^\S*Transpose/.test(description ?? "");
}

/** The axis labels of a heatmap of `info`; null when the layout does not fit the shape. */
export function heatAxes(
  info: Pick<TagInfo, "shape" | "layout" | "gates"> & { description?: string; pool?: readonly number[] | null },
): HeatAxes | null {
  const { shape, layout, gates } = info;
  if (!layout || !Array.isArray(shape) || ![...layout.rows, ...layout.cols].every((a) => Number.isInteger(a) && a >= 0 && a < shape.length)) {
    return null;
  }
  const nRows = prod(layout.rows.map((a) => shape[a]));
  const nCols = prod(layout.cols.map((a) => shape[a]));
  const kind = layout.kind;
  if (kind === "vector" && layout.rows.length === 0 && layout.cols.length === 1) {
    const gated = gates && gates.length > 1 && nCols % gates.length === 0;
    return {
      rows: null,
      rowsShort: null,
      cols: gated ? `1 × ${nCols}: ${unitsText(nCols, gates)}` : `1 × ${nCols}: one per unit`,
      tiles: null,
      title: `One row, a cell per unit: ${nCols} values${gates && gates.length > 1 ? `, by gate ${gates.join(" ")}` : ""}.`,
    };
  }
  // An activation heatmap (`<layer>/activations`, written by watch): samples down, units across.
  if (kind === "matrix" && layout.rows.length === 1 && layout.cols.length === 1 && / activations$/.test(info.description ?? "")) {
    return {
      rows: `samples (${nRows})`,
      rowsShort: `samples (${nRows})`,
      cols: `units (${nCols})`,
      tiles: null,
      title: `Rows: ${nRows} samples of the logged batch; columns: the layer's ${nCols} units (their activations).`,
    };
  }
  // A GRU bias with reset_after is (2, 3 * units): input and recurrent biases, not inputs.
  const bias = / bias$/.test(info.description ?? "");
  if ((kind === "matrix" || kind === "transposed") && layout.rows.length === 1 && layout.cols.length === 1 && !bias) {
    const [r, c] = [layout.rows[0], layout.cols[0]];
    const torch = kind === "transposed" ? ` (PyTorch's (out, in) weight, drawn transposed)` : "";
    return {
      rows: `inputs (${nRows})`,
      rowsShort: `in (${nRows})`,
      cols: unitsText(nCols, gates),
      tiles: null,
      title: `Rows: the layer's ${nRows} inputs (tensor axis ${r}); columns: its ${nCols} units, the outputs (axis ${c})${torch}.`,
    };
  }
  if ((kind === "conv" || kind === "conv_first") && layout.rows.length >= 1 && layout.cols.length === 2) {
    // rows [in, spatial...but last], cols [out, last spatial] (see grid_layout).
    const spatial = [...layout.rows.slice(1), layout.cols[1]];
    const names = spatialNames(spatial.length);
    const th = prod(layout.rows.slice(1).map((a) => shape[a]));
    const tw = shape[layout.cols[1]];
    const down = names.slice(0, -1);
    const tileNames = down.length ? `${down.join("·")} × ${names[names.length - 1]}` : names[0];
    const [inWord, outWord] = isTransposedConv(info.description) ? ["out", "in"] : ["in", "out"];
    const [br, bc] = info.pool ?? [1, 1];
    const pooled = br > 1 || bc > 1;
    // Pooled by whole tiles (tb_nnviz's pooling; model/grid.ts poolTiles), a cell is the mean
    // of a × b channel pairs; older logs' blocks of br × bc grid cells may cut tiles.
    const tiles = poolTiles(shape, layout, info.pool);
    const block = tiles
      ? tiles[0] === 1 && tiles[1] === 1
        ? `each cell: mean of one tile (one in/out channel pair, ${th}×${tw} tiles)`
        : `each cell: mean of ${tiles[0]}×${tiles[1]} channel pairs (${th}×${tw} tiles)`
      : br === th && bc === tw
        ? `each cell is the mean of one tile (one in/out channel pair)`
        : `each cell is the mean of a ${br} × ${bc} block of the tile grid`;
    return {
      rows: `${inWord}-channels (${shape[layout.rows[0]]})`,
      rowsShort: `${inWord} (${shape[layout.rows[0]]})`,
      cols: `${outWord}-channels (${shape[layout.cols[0]]})`,
      tiles: pooled
        ? tiles
          ? `pooled by whole tiles: ${block}; hover shows the block`
          : `${th} × ${tw} tiles (${tileNames}) pooled ${br}×${bc}: ${block}; hover shows the block`
        : `${th} × ${tw} tiles (${tileNames}), one per in/out channel pair`,
      title:
        `Tiles of ${tileNames} = ${th} × ${tw} kernel weights, one per (in-channel, out-channel) pair: ` +
        `${inWord}-channels down (tensor axis ${layout.rows[0]}), ${outWord}-channels across (axis ${layout.cols[0]}).` +
        (pooled ? ` Pooled ${br}×${bc}: ${block} (its mean and max |x| on hover), not one weight.` : ""),
    };
  }
  const rows = layout.rows.length ? axesText(shape, layout.rows) : null;
  const cols = layout.cols.length ? axesText(shape, layout.cols) : "1 column";
  const byGate = gates && gates.length > 1 ? `, by gate ${gates.join(" ")}` : "";
  return {
    rows,
    rowsShort: layout.rows.length ? `axis ${layout.rows.join(", ")}` : null,
    cols: cols + (byGate ? ` by gate` : ""),
    tiles: null,
    title: `Rows: tensor ${rows ?? "one row"}; columns: ${cols}${byGate}.`,
  };
}
