import assert from "node:assert/strict";
import { test } from "node:test";
import { cellBlock, gridShape, gridToTensorIndex, layoutMatches, pooledShape, tileSize } from "../src/model/grid";
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
