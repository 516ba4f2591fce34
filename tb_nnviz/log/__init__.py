"""What and when to log, and writing it: plans, budgets, the loggers, the event file.

``writer`` (the TF-free ``Writer``) and ``event_file`` write TensorBoard's
record format; ``plan`` fixes once what a model logger logs (contents,
groups, budgets); ``tf_logger`` and ``torch_logger`` read a model's weights
and reduce them through ``tb_nnviz.reduce``. Imports ``format`` and
``reduce`` only; the public entry points (``tb_nnviz.keras``,
``tb_nnviz.torch``, ``tb_nnviz.summary``) are built on it.
"""
