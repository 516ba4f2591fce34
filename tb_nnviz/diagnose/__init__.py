"""Pure analysis of logged series: findings rules, spectral metrics, the PCA path.

Evidence in, findings out, with no I/O: ``rates`` (a tensor's series as
per-step update ratios), ``findings`` (trajectory rules), ``loss_findings``
(loss-curve rules), ``spectral`` (WeightWatcher's metrics and their rules)
and ``pca`` (the weight-space path). Imports only ``tb_nnviz.format``.
"""
