"""``tb_nnviz.reduce.blocks``: heatmaps reduced block by block (shards) and merged equal the whole tensor's."""

import itertools
import math

import numpy as np
import pytest

from tb_nnviz.reduce import blocks, grids


def split(shape, dims, parts):
    """``(offset, local_shape)`` of the blocks ``torch.chunk`` makes when ``dims[k]`` is split in ``parts[k]``
    (blocks of ceil(n / parts), the last ones smaller or empty), the way ``Shard(d)`` places them."""
    per_dim = []
    for d in range(len(shape)):
        n = parts[dims.index(d)] if d in dims else 1
        chunk = -(-shape[d] // n)
        per_dim.append([(min(k * chunk, shape[d]), max(0, min(chunk, shape[d] - k * chunk))) for k in range(n)])
    for combo in itertools.product(*per_dim):
        yield tuple(o for o, _ in combo), tuple(n for _, n in combo)


def merged(x, content, dims, parts, fast=True):
    out = []
    for offset, local in split(x.shape, dims, parts):
        block = x[tuple(slice(o, o + n) for o, n in zip(offset, local))]
        box = blocks.cell_box(x.shape, offset, local, content)
        planes = blocks.block_planes(block, offset, x.shape, content, fast)
        assert planes.size == blocks.box_size(box, content)
        out.append((box, planes))
    return blocks.merge(out, content)


CASES = [  # shape, layout, max_cells, split dims, parts
    ((70, 64), "transposed", 512, [0], [2]),  # FSDP2's Shard(0) of a torch Linear, pooled
    ((70, 64), "transposed", 10**5, [0], [2]),  # exact grid
    ((5, 70), "transposed", 64, [0], [2]),  # 5 rows split 3 + 2
    ((1, 5), "transposed", 64, [0], [2]),  # an empty shard
    ((7, 5), "auto", 6, [1], [2]),  # Shard(1), uneven
    ((7, 5), "auto", 6, [1], [4]),  # more ranks than columns: empty shards
    ((33, 17), "auto", 40, [0, 1], [2, 3]),  # a 2-D mesh
    ((9,), "auto", 4, [0], [2]),  # a vector
    ((16, 6, 3, 3), "conv_first", 50, [0], [2]),  # conv tiles, pooled by whole tiles
    ((16, 6, 3, 3), "conv_first", 50, [2], [2]),  # split across a spatial axis: cells reached out of order
    ((3, 3, 6, 10), "auto", 40, [3], [3]),
    ((4, 6, 10), "split:1", 12, [1], [2]),
]


@pytest.mark.parametrize("fast", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("shape, layout, max_cells, dims, parts", CASES)
def test_blocks_merged_equal_the_whole_tensors_heatmap(shape, layout, max_cells, dims, parts, fast):
    rng = np.random.default_rng(math.prod(shape))
    x = rng.normal(size=shape).astype(np.float32)
    content = grids.heatmap_content("w", shape, "float32", layout, max_cells)
    want = grids.heatmap_planes(x, content)
    np.testing.assert_allclose(merged(x, content, dims, parts, fast), want, rtol=1e-6, atol=1e-7)
    # NaN, +Inf and -Inf in one block, +m against -m across blocks, all-negative blocks
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, min(3, flat.size), replace=False)] = [np.nan, np.inf, -np.inf][: min(3, flat.size)]
    x = np.where(rng.random(shape) < 0.3, np.float32(2.5), x) * np.where(rng.random(shape) < 0.5, 1, -1)
    x = x.astype(np.float32)
    np.testing.assert_allclose(merged(x, content, dims, parts, fast), grids.heatmap_planes(x, content), rtol=1e-6,
                               atol=1e-7)


def test_a_block_touching_no_cell_is_empty_and_float64_blocks_work():
    content = grids.heatmap_content("w", (4, 4), "float64", max_cells=4)
    assert blocks.cell_box((4, 4), (4, 0), (0, 4), content) == (0, 0, 0, 0)
    assert blocks.block_planes(np.zeros((0, 4)), (4, 0), (4, 4), content).size == 0
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(merged(x, content, [0], [3]), grids.heatmap_planes(x, content))
