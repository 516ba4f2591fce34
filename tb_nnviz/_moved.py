"""The module paths of tb-nnviz 0.1, importable for one more release.

0.2 moved every module but the entry points into stage subpackages
(``format``, ``reduce``, ``log``, ``diagnose``, ``serve``). Importing an old
path (``tb_nnviz.writer``, ``tb_nnviz.plugin``, ...) gives the moved module
with a ``DeprecationWarning`` naming the new path; event files are not
affected (they store plugin names, not module paths).

>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     from tb_nnviz import metadata
>>> metadata.__name__
'tb_nnviz.format.metadata'
>>> str(caught[0].message)
'tb_nnviz.metadata moved to tb_nnviz.format.metadata; the old path goes in the next release'
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: Old module (under ``tb_nnviz.``) -> its path now.
MOVED = {
    "metadata": "format.metadata",
    "heatmap_format": "format.heatmap_body",
    "trajectory": "reduce.trajectory",
    "spectrum": "reduce.spectrum",
    "fused": "reduce.numba_ops",
    "tf_reduce": "reduce.tf_ops",
    "torch_reduce": "reduce.torch_ops",
    "tf_spectrum": "reduce.tf_ops",
    "torch_spectrum": "reduce.torch_ops",
    "event_file": "log.event_file",
    "writer": "log.writer",
    "logplan": "log.plan",
    "tf_logger": "log.tf_logger",
    "torch_logger": "log.torch_logger",
    "findings": "diagnose.findings",
    "loss_findings": "diagnose.loss_findings",
    "spectral": "diagnose.spectral",
    "rates": "diagnose.rates",
    "analysis": "diagnose.pca",
    "plugin": "serve.plugin",
    "store": "serve.store",
    "loss_store": "serve.loss_store",
    "spectral_store": "serve.spectral_store",
    "report": "serve.report",
}


def warn(old, new, stacklevel):
    warnings.warn("%s moved to %s; the old path goes in the next release" % (old, new),
                  DeprecationWarning, stacklevel=stacklevel)


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``tb_nnviz.<old>`` (``<old>`` a key of ``MOVED``) and loads it as the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("tb_nnviz.") and fullname[len("tb_nnviz."):] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = "tb_nnviz." + MOVED[spec.name[len("tb_nnviz."):]]
        warn(spec.name, new, stacklevel=5)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # the module at the new path is already executed


def install():
    """Adds the finder once (``tb_nnviz`` calls it on import)."""
    if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
        sys.meta_path.append(_OldPaths())
