"""What the rules read besides the weights' trajectories: the run's set-up and its activations.

A writer logs these beside the weights (docs/format.md: "Run information",
"Activations"); the reading side (``tb_nnviz.serve``) decodes them into the
plain values below, so the rules stay pure and work for every writer. Each
is optional: a rule that needs a missing one says it could not judge.

>>> info = RunInfo.from_json({"framework": "torch", "optimizer": {"class": "SGD", "lr": 0.1, "momentum": 0.9},
...                           "structure": [{"name": "0", "type": "Linear"}, {"name": "1", "type": "ReLU"}]})
>>> info.optimizer_class, info.momentum, [m["type"] for m in info.structure]
('SGD', 0.9, ['Linear', 'ReLU'])
>>> a = ActivationSeries("mlp/dense_1", "relu", np.array([0, 10]), {"dead_fraction": np.array([0.0, 0.9])})
>>> float(a.last("dead_fraction"))
0.9
"""

import typing

import numpy as np

from tb_nnviz.format.layouts import ACTIVATION_FIELDS  # noqa: F401  (the fields by name)


class RunInfo(typing.NamedTuple):
    """The run's set-up as the writer saw it (logged once, and again when the learning rate changes).

    ``structure``: the model's modules or layers in call order (else
    definition order), each ``{"name", "type", "activation"?, "params"?,
    "output_shape"?}``; ``optimizer``: the optimizer's public configuration
    (``class``, ``lr``, ``momentum``, ``betas``, ``weight_decay``,
    ``nesterov``, ... as the framework names them); ``lr``: ``(step, lr)``
    pairs over the logged steps; ``loss``: what the framework exposes of the
    loss (Keras: ``{"class", "from_logits"}``), or None; ``input``: the first
    layer's input statistics at the first logged step (``mean``, ``std``,
    ``min``, ``max``), or None.
    """

    framework: typing.Optional[str] = None
    structure: tuple = ()
    optimizer: typing.Optional[dict] = None
    lr: tuple = ()
    loss: typing.Optional[dict] = None
    input: typing.Optional[dict] = None
    #: Keras' backend (``"tensorflow"``, ``"jax"``, ``"torch"``), or None.
    backend: typing.Optional[str] = None

    @classmethod
    def from_json(cls, value):
        """A RunInfo from the logged JSON object (unknown keys ignored, missing ones None)."""
        value = value or {}
        return cls(value.get("framework"), tuple(value.get("structure") or ()), value.get("optimizer"),
                   tuple(tuple(p) for p in value.get("lr") or ()), value.get("loss"), value.get("input"),
                   value.get("backend"))

    @property
    def optimizer_class(self):
        return (self.optimizer or {}).get("class")

    @property
    def momentum(self):
        """The optimizer's momentum (SGD ``momentum``, Adam's ``betas[0]`` / ``beta_1``), or None."""
        opt = self.optimizer or {}
        if opt.get("momentum") is not None:
            return float(opt["momentum"])
        betas = opt.get("betas")
        if betas:
            return float(betas[0])
        return None if opt.get("beta_1") is None else float(opt["beta_1"])


class ActivationSeries(typing.NamedTuple):
    """One layer's output statistics over the logged steps (``tb_nnviz.format.layouts.ACTIVATION_FIELDS`` by name).

    ``layer`` is the layer whose output this is, named as its weights are
    (``mlp/dense_1``, ``layer1/0/relu``); ``kind`` the activation function
    (``relu``, ``leaky_relu``, ``gelu``, ``sigmoid``, ``tanh``, ``softmax``,
    ``linear``, ``other``), or ``input`` for the model's input; ``order`` its
    position in the forward pass.
    """

    layer: str
    kind: str
    steps: np.ndarray
    fields: dict
    order: typing.Optional[int] = None

    def last(self, field):
        """The field's last finite value, or NaN."""
        values = np.asarray(self.fields.get(field, ()), np.float64)
        finite = values[np.isfinite(values)]
        return finite[-1] if finite.size else np.nan
