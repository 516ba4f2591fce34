"""Loaded by pytest before any test module or doctest.

Imports PyTorch's compiler stack before anything imports TensorFlow: loading
Triton's LLVM-based extension (which ``torch._dynamo``, ``torch.compile`` and
torchvision import) into a process that already holds TensorFlow crashes the
interpreter (torch 2.14, TensorFlow 2.x; the other order works). Tests of both
frameworks share one pytest process, so the order is fixed here.
"""

try:
    import torch._dynamo  # noqa: F401
except ImportError:  # PyTorch is optional outside the test extra
    pass
