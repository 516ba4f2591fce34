"""Where the parts of stored trajectory points and spectra lie.

The writers (``tb_nnviz.reduce.trajectory``, ``tb_nnviz.reduce.spectrum``)
fill these layouts and the readers (``tb_nnviz.serve``) look values up in
them, by name, never by position; both import them from here.

>>> STAT_FIELDS[:3]
('norm', 'update_norm', 'update_ratio')
"""

import typing

#: Quantile levels recorded in every trajectory point.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Named statistics at the start of every trajectory point, in order.
STAT_FIELDS = (
    "norm",
    "update_norm",
    "update_ratio",
    "mean",
    "std",
    "min",
    "max",
    "q05",
    "q25",
    "q50",
    "q75",
    "q95",
    "zero_fraction",
    "nan_count",
    "inf_count",
    "unchanged_unit_fraction",
    # Appended for gradients (NaN where a writer logged none): the gradient's
    # L2 norm at the step, taken before the optimizer applied it, and its
    # ratio to the weight's norm.
    "grad_norm",
    "grad_ratio",
)


class PointLayout(typing.NamedTuple):
    """Where the parts of a stored trajectory point lie (see :func:`point_layout`)."""

    #: Each statistic's column, by field name (``{"norm": 0, ...}``).
    fields: dict
    #: Columns of the traced parameters' values.
    traces: slice
    #: Columns of the sketch.
    sketch: slice
    #: Length of the point.
    length: int


def point_layout(content):
    """The ``PointLayout`` of points logged with trajectory metadata ``content``
    (``TrajectoryPlan.content``, of this or an older version): the named
    statistics, then the traces, then the sketch. Readers look columns up
    here, by name, never by position.

    >>> layout = point_layout({"fields": ["norm", "mean"], "traces": [7, 9], "sketch_dim": 4})
    >>> layout.fields, layout.traces, layout.sketch, layout.length
    ({'norm': 0, 'mean': 1}, slice(2, 4, None), slice(4, 8, None), 8)
    """
    fields = list(content["fields"])
    traces_end = len(fields) + len(content["traces"])
    end = traces_end + int(content["sketch_dim"])
    return PointLayout(
        {name: i for i, name in enumerate(fields)},
        slice(len(fields), traces_end),
        slice(traces_end, end),
        end,
    )


#: Name of the sketch definition (``tb_nnviz.reduce.trajectory.sketch``),
#: recorded in the trajectory content.
SKETCH_SCHEME = "countsketch-mod-k"


def stored_shape(content):
    """Shape of the logged array: ``[slices, evals]``, or ``[0]`` for a skipped tensor.

    >>> stored_shape({"skipped": None, "slices": 9, "evals": 16})
    [9, 16]
    >>> stored_shape({"skipped": "too large", "slices": 1, "evals": 4096})
    [0]
    """
    return [0] if content["skipped"] else [content["slices"], content["evals"]]


#: Statistics of one layer's output over the batch of a logged step, in the
#: order a writer logs them (docs/format.md, "Activations"). A *unit* is one
#: output feature (a Dense/Linear column, a conv channel); fractions are of
#: units or of entries as named.
ACTIVATION_FIELDS = (
    "dead_fraction",  # units that are exactly 0 for every sample of the batch (ReLU family)
    "zero_fraction",  # entries exactly 0
    "saturated_fraction",  # entries in the flat tails: sigmoid < 0.03 or > 0.97; tanh |x| > 0.97 (SageMaker)
    "mean",
    "std",
    "abs_max",
    "nan_count",
)

#: Statistics of the model's input (the first layer's input) over the batch of
#: a logged step, in the order a writer logs them; logged as the activation
#: record of kind ``input`` (docs/format.md, "Activations").
INPUT_FIELDS = ("mean", "std", "min", "max", "nan_count")

#: What an activation record's ``activation`` names: the function whose output
#: the statistics describe (``input``: the model's input, fields
#: ``INPUT_FIELDS``). ``saturated_fraction`` applies to ``sigmoid`` and
#: ``tanh`` only (NaN otherwise).
ACTIVATION_KINDS = ("relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax",
                    "linear", "other", "input")

#: The sample axis of an activation heatmap ``<layer>/activations`` holds at
#: most this many samples: the first of the batch.
ACTIVATION_HEATMAP_SAMPLES = 32
