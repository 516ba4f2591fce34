/**
 * Grid cell <-> tensor index mapping, including pooling blocks. Pure, no DOM.
 *
 * The backend lays a tensor `x` of shape `shape` on a 2-D grid as
 *   grid = x.transpose(rows + cols).reshape(prod(shape[rows]), prod(shape[cols]))
 * so a grid row is the mixed-radix number of the tensor indices along the `rows`
 * axes (first listed = most significant), and the same for columns.
 *
 * Example (conv kernel [kh=3, kw=3, in=2, out=4], rows [2, 0], cols [3, 1]):
 *   gridToTensorIndex(4, 7, shape, layout) -> [1, 1, 1, 2]
 *   (row 4 = in 1 * 3 + ky 1, col 7 = out 2 * 3 + kx 1)
 */
import type { Layout } from "../data/types";

/** Product of `shape` over `axes`; the empty product is 1. */
function prodOver(shape: readonly number[], axes: readonly number[]): number {
  let p = 1;
  for (const a of axes) p *= shape[a];
  return p;
}

/**
 * The unpooled grid size implied by a shape and layout.
 *
 * Example: gridShape([10], {rows: [], cols: [0]}) -> [1, 10].
 */
export function gridShape(shape: readonly number[], layout: Layout): [number, number] {
  return [prodOver(shape, layout.rows), prodOver(shape, layout.cols)];
}

/**
 * True when the layout's axes describe `grid` exactly (a permutation of all axes whose
 * products match), so that tensor indices can be shown for grid cells.
 */
export function layoutMatches(shape: readonly number[], layout: Layout, grid: readonly number[]): boolean {
  const axes = [...layout.rows, ...layout.cols];
  if (axes.length !== shape.length) return false;
  const seen = new Set(axes);
  if (seen.size !== axes.length) return false;
  if (axes.some((a) => !Number.isInteger(a) || a < 0 || a >= shape.length)) return false;
  const [r, c] = gridShape(shape, layout);
  return r === grid[0] && c === grid[1];
}

/** Writes the mixed-radix digits of `n` along `axes` (last axis least significant) into `out`. */
function decode(n: number, shape: readonly number[], axes: readonly number[], out: number[]): void {
  for (let k = axes.length - 1; k >= 0; k--) {
    const size = shape[axes[k]];
    out[axes[k]] = n % size;
    n = Math.floor(n / size);
  }
}

/** The mixed-radix number of `idx` along `axes` (first axis most significant). */
/**
 * The tensor index of unpooled grid cell (r, c).
 *
 * Example: gridToTensorIndex(0, 5, [10], {rows: [], cols: [0]}) -> [5];
 * gridToTensorIndex(3, 17, [64, 32], {rows: [0], cols: [1]}) -> [3, 17].
 */
export function gridToTensorIndex(r: number, c: number, shape: readonly number[], layout: Layout): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  decode(r, shape, layout.rows, idx);
  decode(c, shape, layout.cols, idx);
  return idx;
}

/** A pooled cell's block of unpooled grid rows [r0, r1) and columns [c0, c1). */
export interface Block {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

/**
 * The unpooled grid block covered by stored (pooled) cell (i, j).
 *
 * Example: cellBlock(1, 2, [10, 10], [4, 4]) -> {r0: 4, r1: 8, c0: 8, c1: 10}.
 */
export function cellBlock(i: number, j: number, grid: readonly number[], pool: readonly number[]): Block {
  const [br, bc] = pool;
  return {
    r0: i * br,
    r1: Math.min((i + 1) * br, grid[0]),
    c0: j * bc,
    c1: Math.min((j + 1) * bc, grid[1]),
  };
}

/**
 * The stored heatmap size for a grid and pooling: [ceil(R/br), ceil(C/bc)].
 *
 * Example: pooledShape([10, 10], [4, 4]) -> [3, 3].
 */
export function pooledShape(grid: readonly number[], pool: readonly number[]): [number, number] {
  return [Math.ceil(grid[0] / Math.max(1, pool[0])), Math.ceil(grid[1] / Math.max(1, pool[1]))];
}

/**
 * Tile size in unpooled grid cells: the span over which the most significant row (column)
 * axis stays constant. Tiles larger than 1 x 1 get thin borders.
 *
 * Example: conv [3, 3, 16, 32] with rows [2, 0], cols [3, 1] -> [3, 3];
 * matrix [64, 10] -> [1, 1].
 */
export function tileSize(shape: readonly number[], layout: Layout): [number, number] {
  return [prodOver(shape, layout.rows.slice(1)), prodOver(shape, layout.cols.slice(1))];
}

/**
 * The block of a pooled conv heatmap in whole tiles, [a, b]: every cell is the mean (and
 * absmax) of a × b (in, out) channel pairs, whole kh × kw tiles. tb_nnviz pools conv
 * kernels this way (`pool_tiles` in the metadata); null when unpooled, for layouts
 * without tiles, or for older logs whose blocks cut tiles.
 *
 * Example: poolTiles([3, 3, 256, 256], conv layout, [24, 24]) -> [8, 8];
 * poolTiles([3, 3, 64, 64], conv layout, [2, 4]) -> null.
 */
export function poolTiles(shape: readonly number[], layout: Layout, pool: readonly number[] | null | undefined): [number, number] | null {
  const [br, bc] = pool ?? [1, 1];
  if (br <= 1 && bc <= 1) return null;
  const [th, tw] = tileSize(shape, layout);
  if (th * tw <= 1 || br % th !== 0 || bc % tw !== 0) return null;
  return [br / th, bc / tw];
}

/**
 * Stored cells between tile borders, [rows, cols]: the tile when unpooled; 1 when pooled by
 * whole tiles (each cell is a block of channel pairs); tile / pool when older pooling cut
 * tiles. A step of 0 draws no borders that way (no tiles there).
 *
 * Example: tileStep([3, 3, 8, 16], conv layout, [1, 1]) -> [3, 3];
 * tileStep([3, 3, 256, 256], conv layout, [24, 24]) -> [1, 1].
 */
export function tileStep(shape: readonly number[], layout: Layout, pool: readonly number[] | null | undefined): [number, number] {
  const [th, tw] = tileSize(shape, layout);
  const [br, bc] = pool ?? [1, 1];
  if (poolTiles(shape, layout, pool)) return [th > 1 ? 1 : 0, tw > 1 ? 1 : 0];
  return [th > 1 ? th / br : 0, tw > 1 ? tw / bc : 0];
}
