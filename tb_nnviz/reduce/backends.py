"""Which backend reduces a group of tensors: one choice for every logger.

Every backend module offers the same contract (documented in
``tb_nnviz.reduce.numpy_ops``): ``constants``, ``heatmap_planes``,
``raw_points``, ``grad_sumsq`` and ``eigenvalues`` over a group of G
same-shaped tensors. :func:`choose` picks one for a group from its dtype,
device and framework: the one-pass numba kernels for float32/float64 on the
CPU (when numba is installed), else the framework's own ops, where the
tensors live. The loggers call it once per group (the PyTorch logger at
each step, so a model moved or cast after ``watch`` is still reduced where
it is), never per tensor.

>>> from tb_nnviz.reduce import numba_ops
>>> choose("float32", "cpu", "numpy") is (numba_ops if numba_ops.numba else numpy_ops)
True
>>> choose("float16", "cpu", "numpy") is numpy_ops
True
>>> choose("float32", "cpu", "numpy", one_pass=False) is numpy_ops
True
"""

from tb_nnviz.reduce import numba_ops, numpy_ops

#: The frameworks :func:`choose` knows: whose tensors a group holds.
FRAMEWORKS = ("numpy", "tf", "torch")


def on_cpu(device):
    """Whether a device name is the host's CPU: ``"cpu"``, ``"cpu:0"``, TensorFlow's ``".../device:CPU:0"``.

    >>> on_cpu("/job:localhost/replica:0/task:0/device:CPU:0"), on_cpu("cuda:0"), on_cpu("")
    (True, False, False)
    """
    return "cpu" in str(device).lower()


def choose(dtype, device, framework, one_pass=True):
    """The backend module that reduces a group of tensors of ``dtype`` on ``device`` held by ``framework``.

    Args:
      dtype: the tensors' dtype name (``"float32"``, ``"bfloat16"``, ...).
      device: where they live (a torch device or its name, a TensorFlow
        device string; ``"cpu"`` for numpy arrays).
      framework: one of :data:`FRAMEWORKS`.
      one_pass: False never takes ``numba_ops`` (every reduction in the
        framework's ops, as without numba or off the CPU).

    Returns ``numba_ops`` for float32/float64 on the CPU when numba is
    installed; else ``numpy_ops``, ``tf_ops`` or ``torch_ops`` (the latter two
    imported on first use).
    """
    if framework not in FRAMEWORKS:
        raise ValueError("framework must be one of %s, got %r" % (", ".join(FRAMEWORKS), framework))
    if one_pass and numba_ops.usable(str(dtype).replace("torch.", "")) and on_cpu(device):
        return numba_ops
    if framework == "tf":
        from tb_nnviz.reduce import tf_ops

        return tf_ops
    if framework == "torch":
        from tb_nnviz.reduce import torch_ops

        return torch_ops
    return numpy_ops
