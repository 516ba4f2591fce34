"""Reading logs and serving them: the TensorBoard plugin, its stores, the report.

``plugin`` (loader, routes: pure ``*_impl`` + thin route) and the stores
(``store``, ``loss_store``, ``spectral_store``) read our tags through
TensorBoard's data provider; ``report`` (``tb-nnviz report``) serves the same
findings to a terminal. The built tab is in ``static/``. Imports ``format``
and ``diagnose``, never the writing side (``reduce``, ``log``).
"""
