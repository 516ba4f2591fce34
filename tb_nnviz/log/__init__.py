"""What and when to log, and writing it: plans, budgets, the loggers, the event file.

``writer`` (the TF-free ``Writer``) and ``event_file`` write TensorBoard's
record format; ``plan`` fixes once what a model logger logs (contents,
groups, budgets); the loggers read a model's weights and reduce them
through ``tb_nnviz.reduce``: ``tf_logger`` (Keras on TensorFlow),
``torch_logger`` (``watch``, and Keras on torch), ``host_logger`` (Keras on
JAX: host arrays); ``activations`` and ``torch_activations`` take the
activation statistics and run information of a training forward. Imports
``format`` and ``reduce`` only; the public entry points (``tb_nnviz.keras``,
``tb_nnviz.torch``, ``tb_nnviz.summary``, ...) are built on it.
"""
