"""tb_nnviz: see inside a neural network while it trains, in TensorBoard.

>>> import numpy as np, tempfile
>>> import tb_nnviz
>>> with tb_nnviz.Writer(tempfile.mkdtemp()) as w:
...     w.log_weights(0, {"dense/kernel": np.eye(3)})

``tb_nnviz.summary`` (TensorFlow summary ops) and ``tb_nnviz.keras``
(``NNVizCallback``) import TensorFlow on first use, and ``tb_nnviz.torch``
(``watch``) imports PyTorch, so the Writer and the TensorBoard plugin work
without either.
"""

import importlib
import typing

from tb_nnviz import _moved

if typing.TYPE_CHECKING:
    from tb_nnviz.log.writer import Writer
    from tb_nnviz.reduce.grids import TensorError

__version__ = "0.2.0"
__all__ = ["Writer", "TensorError", "summary", "keras", "torch", "__version__"]

_LAZY = ("summary", "keras", "torch")
#: Imported on first use too, so that ``tb-nnviz report`` (``tb_nnviz.cli``)
#: can set up its reading before TensorBoard's modules load.
_CLASSES = {"Writer": "tb_nnviz.log.writer", "TensorError": "tb_nnviz.reduce.grids"}


_moved.install()  # tb-nnviz 0.1's module paths, with a DeprecationWarning


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module("tb_nnviz." + name)
    if name in _CLASSES:
        value = getattr(importlib.import_module(_CLASSES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError("module 'tb_nnviz' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
