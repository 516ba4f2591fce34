import assert from "node:assert/strict";
import { test } from "node:test";
import { cellBlock, gridShape, gridToTensorIndex, layoutMatches, pooledShape, poolTiles, tileSize, tileStep } from "../src/model/grid";
import { tensorIndexToGrid } from "./helpers";
import type { Layout } from "../src/data/types";
import { bruteGrid } from "./helpers";

function checkAgainstBrute(shape: number[], layout: Layout): void {
  const brute = bruteGrid(shape, layout.rows, layout.cols);
  const [R, C] = gridShape(shape, layout);
  assert.equal(brute.length, R);
  assert.equal(brute[0].length, C);
  assert.ok(layoutMatches(shape, layout, [R, C]));
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      assert.deepEqual(gridToTensorIndex(r, c, shape, layout), brute[r][c], `cell (${r}, ${c})`);
      assert.deepEqual(tensorIndexToGrid(brute[r][c], shape, layout), [r, c]);
    }
  }
}

test("vector [n] -> 1 x n", () => {
  const layout: Layout = { kind: "vector", rows: [], cols: [0] };
  assert.deepEqual(gridShape([7], layout), [1, 7]);
  checkAgainstBrute([7], layout);
  assert.deepEqual(gridToTensorIndex(0, 5, [7], layout), [5]);
});

test("matrix [in, out] as is", () => {
  const layout: Layout = { kind: "matrix", rows: [0], cols: [1] };
  checkAgainstBrute([5, 4], layout);
  assert.deepEqual(gridToTensorIndex(3, 2, [5, 4], layout), [3, 2]);
  assert.deepEqual(tileSize([5, 4], layout), [1, 1]);
});

test("conv [kh, kw, in, out] -> kh x kw tiles, in down, out across", () => {
  const shape = [3, 2, 4, 5];
  const layout: Layout = { kind: "conv", rows: [2, 0], cols: [3, 1] };
  assert.deepEqual(gridShape(shape, layout), [12, 10]);
  checkAgainstBrute(shape, layout);
  // row 4 = in 1 * kh(3) + ky 1; col 7 = out 3 * kw(2) + kx 1
  assert.deepEqual(gridToTensorIndex(4, 7, shape, layout), [1, 1, 1, 3]);
  assert.deepEqual(tileSize(shape, layout), [3, 2]);
});

test("rank 3 and rank 5 layouts round-trip too", () => {
  checkAgainstBrute([4, 3, 2], { kind: "split", rows: [0], cols: [1, 2] });
  checkAgainstBrute([2, 2, 2, 3, 2], { kind: "conv", rows: [3, 0, 1], cols: [4, 2] });
});

test("layoutMatches rejects layouts that do not describe the grid", () => {
  assert.equal(layoutMatches([4, 3], { kind: "matrix", rows: [0], cols: [1] }, [4, 4]), false);
  assert.equal(layoutMatches([4, 3], { kind: "matrix", rows: [0], cols: [0] }, [4, 4]), false);
  assert.equal(layoutMatches([4, 3], { kind: "matrix", rows: [0], cols: [] }, [4, 1]), false);
});

test("pooled blocks partition the grid, last block clipped", () => {
  const grid: [number, number] = [10, 7];
  const pool: [number, number] = [4, 3];
  const [pr, pc] = pooledShape(grid, pool);
  assert.deepEqual([pr, pc], [3, 3]);
  const covered = new Array(grid[0] * grid[1]).fill(0);
  for (let i = 0; i < pr; i++) {
    for (let j = 0; j < pc; j++) {
      const b = cellBlock(i, j, grid, pool);
      for (let r = b.r0; r < b.r1; r++) for (let c = b.c0; c < b.c1; c++) covered[r * grid[1] + c]++;
    }
  }
  assert.ok(covered.every((n) => n === 1), "every grid cell in exactly one block");
  assert.deepEqual(cellBlock(2, 2, grid, pool), { r0: 8, r1: 10, c0: 6, c1: 7 });
  assert.deepEqual(cellBlock(1, 2, [10, 10], [4, 4]), { r0: 4, r1: 8, c0: 8, c1: 10 });
});

test("pooled cells map to the tensor indices of their block (brute force)", () => {
  const shape = [3, 3, 4, 6];
  const layout: Layout = { kind: "conv", rows: [2, 0], cols: [3, 1] };
  const grid = gridShape(shape, layout);
  const brute = bruteGrid(shape, layout.rows, layout.cols);
  const pool = [5, 4];
  const b = cellBlock(1, 2, grid, pool);
  assert.deepEqual(gridToTensorIndex(b.r0, b.c0, shape, layout), brute[b.r0][b.c0]);
  assert.deepEqual(gridToTensorIndex(b.r1 - 1, b.c1 - 1, shape, layout), brute[b.r1 - 1][b.c1 - 1]);
});

test("pooling by whole tiles: block in tiles, tile borders between cells, blocks cover whole channel pairs", () => {
  const keras: Layout = { kind: "conv", rows: [2, 0], cols: [3, 1] };
  assert.deepEqual(poolTiles([3, 3, 256, 256], keras, [24, 24]), [8, 8]);
  assert.deepEqual(tileStep([3, 3, 256, 256], keras, [24, 24]), [1, 1]);
  assert.deepEqual(tileStep([3, 3, 8, 16], keras, [1, 1]), [3, 3]);
  // An older log's pooling that cuts tiles: no whole tiles, borders at tile / pool.
  assert.equal(poolTiles([3, 3, 64, 64], keras, [2, 4]), null);
  assert.deepEqual(tileStep([3, 3, 64, 64], keras, [2, 4]), [1.5, 0.75]);
  // 1x1 kernels and matrices have no tiles.
  assert.equal(poolTiles([1, 1, 512, 2048], keras, [31, 31]), null);
  assert.equal(poolTiles([2048, 10], { kind: "matrix", rows: [0], cols: [1] }, [18, 1]), null);
  // PyTorch's (out, in, kh, kw) = (128, 64, 3, 3) pooled 1x3 channel pairs: every block holds whole tiles.
  const first: Layout = { kind: "conv_first", rows: [1, 2], cols: [0, 3] };
  const shape = [128, 64, 3, 3];
  const grid = gridShape(shape, first);
  const pool = [3, 9];
  assert.deepEqual(poolTiles(shape, first, pool), [1, 3]);
  const [pr, pc] = pooledShape(grid, pool);
  for (let i = 0; i < pr; i += 7) {
    for (let j = 0; j < pc; j += 5) {
      const b = cellBlock(i, j, grid, pool);
      const lo = gridToTensorIndex(b.r0, b.c0, shape, first);
      const hi = gridToTensorIndex(b.r1 - 1, b.c1 - 1, shape, first);
      assert.deepEqual([lo[2], lo[3], hi[2], hi[3]], [0, 0, 2, 2]);  // whole 3x3 tiles
      assert.deepEqual([lo[1], hi[1]], [i, i]);
      assert.deepEqual([lo[0], hi[0]], [3 * j, Math.min(3 * j + 2, 127)]);
    }
  }
});
