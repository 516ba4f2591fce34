"""Reductions of weight tensors: the numpy reference and the fast backends.

``grids`` (heatmaps: layouts, pooling), ``trajectory`` (trajectory points:
statistics, traces, sketch) and ``spectrum`` (eigenvalues) are the numpy
reference, the single definition of every number logged. The backends
offer one contract over groups of same-shaped tensors (``group``'s
``TrajectoryGroup``; the functions are documented in ``numpy_ops``, the
reference behind it): ``numba_ops`` (one pass over CPU float32/float64
weights), ``tf_ops`` and ``torch_ops`` compute the same numbers where the
weights live; ``backends.choose`` picks one for a group, and
tests/test_backends.py holds each equal to the reference. Imports only
``tb_nnviz.format``.
"""


#: The names of tb-nnviz 0.1's module ``tb_nnviz.reduce``, now ``tb_nnviz.reduce.grids``.
_GRIDS = ("DEFAULT_MAX_CELLS", "CHUNK_ELEMENTS", "LAYOUTS", "TensorError", "check_name", "check_tensor",
          "grid_layout", "grid_shape", "to_grid", "pool_factors", "pool", "heatmap_content",
          "heatmap_planes", "heatmap", "heatmap_cap")


def __getattr__(name):
    if name not in _GRIDS:
        raise AttributeError("module 'tb_nnviz.reduce' has no attribute %r" % name)
    import importlib
    import warnings

    warnings.warn("tb_nnviz.reduce.%s moved to tb_nnviz.reduce.grids.%s; the old path goes in the next release"
                  % (name, name), DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module("tb_nnviz.reduce.grids"), name)
