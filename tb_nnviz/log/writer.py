"""A TensorFlow-free writer of tb_nnviz summaries, into its own event file.

Events go to ``tb_nnviz.log.event_file.EventFile`` (TensorBoard's record
format, checksummed in C; a local log dir never imports TensorFlow), not
through TensorBoard's event writer. Arrays are reduced by the numpy reference
(``tb_nnviz.reduce``); the Keras and PyTorch loggers hand in reductions of
their own through :meth:`Writer.write_reduced`.

>>> import numpy as np, tempfile
>>> logdir = tempfile.mkdtemp()
>>> with Writer(logdir) as w:
...     w.log_weights(0, {"dense/kernel": np.zeros((4, 3)), "dense/bias": np.zeros(3)})
...     w.log_weights(1, {"dense/kernel": np.ones((4, 3)), "dense/bias": np.ones(3)})

Nested mappings (a JAX/Flax params pytree of dicts) are named by their path:

>>> flatten({"params": {"Dense_0": {"kernel": np.eye(2), "bias": np.zeros(2)}}}).keys()
dict_keys(['params/Dense_0/kernel', 'params/Dense_0/bias'])
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.util import tensor_util

from tb_nnviz.format import graph as graph_format
from tb_nnviz.format import layouts, metadata
from tb_nnviz.log import activations as act
from tb_nnviz.log import plan as log_plan
from tb_nnviz.log.event_file import EventFile
from tb_nnviz.reduce import grids, spectrum, trajectory


class Writer:
    """Writes weight heatmaps and trajectory points of numpy arrays to ``logdir``.

    Args:
      logdir: directory of one TensorBoard run (created if missing); a URL
        (``gs://...``) is written through TensorBoard's ``gfile``.
      max_cells: heatmap cell budget; larger grids are block-pooled. Default
        ``grids.DEFAULT_MAX_CELLS`` (65,536 = 256 x 256).
      num_traces: single parameters traced per tensor. Default 16.
      sketch_dim: dimension of each tensor's linear sketch. Default 256.
      seed: seeds trace choice and sketch signs (with each tensor's name).
      flush_secs: how often written events are flushed, also when no more
        come (default 120; :meth:`flush` and :meth:`close` flush at once). It
        matters for a URL only: a local file gets each event when it is logged
        (unbuffered), so a process killed with SIGKILL keeps every logged step.
      filename_suffix: appended to the event file's name.
      full_resolution: tensors whose heatmaps are written unpooled (up to
        ``grids.FULL_RESOLUTION_CELLS`` cells), whatever ``max_cells`` and the
        model-wide budget of the Keras callback and ``watch``: a regex
        (``re.search`` on the name, e.g. ``"conv1/"``) or a list of them.
        Default None. Where a heatmap is pooled, the tab says so on its card.

    Each logged step is written as one event, so a step is either all there or
    not there. A failed write (a full disk) cuts the file back to its last
    complete event, closes it and raises; later calls raise
    ``event_file.WriteFailed`` (docs/reliability.md, "Disk full"). The first
    event of each tag carries its metadata. The first heatmap of each tensor is
    also written under ``metadata.first_tag(name)``,
    so TensorBoard's sampling cannot drop the first step. Trajectory points and
    activation statistics go to a new tag every ``metadata.CHUNK_POINTS`` points
    of a tensor (``metadata.chunk_tag``), so a server reading the run as it grows
    re-reads only the last chunk (docs/format.md, "Chunks").

    A name may be logged once per step and kind: several calls with the same
    step may log different names, or heatmaps in one call and trajectories in
    another, but logging ``"a"``'s heatmap (or trajectory) twice at one step
    raises ``TensorError`` (two tensors sharing a name would otherwise mix
    silently, and an update norm would be taken within one step).
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        *,
        max_cells: int = grids.DEFAULT_MAX_CELLS,
        num_traces: int = trajectory.DEFAULT_NUM_TRACES,
        sketch_dim: int = trajectory.DEFAULT_SKETCH_DIM,
        seed: int = 0,
        flush_secs: float = 120,
        filename_suffix: str = "",
        full_resolution: str | Sequence[str] | None = None,
    ) -> None:
        self._options = dict(max_cells=int(max_cells))
        #: Compiled ``full_resolution`` patterns (None: none); ``LogPlan`` reads them too.
        self.full_resolution = log_plan.patterns("full_resolution", full_resolution)
        self._plan_options = dict(num_traces=num_traces, sketch_dim=sketch_dim, seed=seed)
        grids.pool_factors(1, 1, self._options["max_cells"])  # validates max_cells
        self._writer = EventFile(str(logdir), flush_secs=flush_secs, filename_suffix=filename_suffix)
        self._heatmaps = {}  # name -> content
        self._plans = {}  # name -> (TrajectoryPlan, content)
        self._spectra = {}  # name -> spectrum content (None: the tensor has no matrix)
        self._previous = {}  # name -> value at the previous logged step
        self._written = set()  # tags whose metadata has been written
        self._last_step = {}  # tag (a chunked kind's first-chunk tag) -> step of its latest event
        self._points = {}  # (plugin name, name) -> points written, for chunked kinds
        self._order = {}  # name -> position in network order (first seen first)
        self._activations = {}  # layer name -> activation content
        self._activation_rows = {}  # layer name -> rows of its activation heatmap
        self._schedule = None  # log_weights(heatmaps="auto"): HeatmapSchedule from its first step
        self._weights_step = None  # the step of the last log_weights call
        self._diverged = False  # log_weights saw NaN/Inf weights

    def log_weights(
        self,
        step: int,
        weights: Mapping[str, Any],
        *,
        heatmaps: bool | str = True,
        trajectories: bool = True,
        layouts: Mapping[str, str] | None = None,
        gates: Mapping[str, Sequence[str]] | None = None,
        unit_axes: Mapping[str, int] | None = None,
        description: Mapping[str, str] | None = None,
        gradients: Mapping[str, Any] | None = None,
        spectra: bool | None = None,
    ) -> None:
        """Logs one step of named arrays as heatmaps and/or trajectory points.

        Args:
          step: int >= 0, the training step.
          weights: mapping of tensor name (e.g. ``"dense/kernel"``) to array, in
            network order (the order the tab lists them in). Nested mappings
            (a Flax ``params`` pytree) are named by their path joined with
            ``/`` (see :func:`flatten`); any array-like works (numpy, JAX).
          heatmaps: write heatmaps of these arrays: True (default), False, or
            ``"auto"``: at a handful of steps whatever the run's length, the
            half decades 1, 3, 10, 30, ... steps after the first call's step
            (``tb_nnviz.log.plan.HeatmapSchedule``; a call past one of them
            logs them), and a tensor's first call; and when an array first
            holds NaN/Inf, this call's and the last finite ones: the values
            at the previous call with trajectories, written at its step
            (unless a heatmap came after it). True and False do just that.
          trajectories: write trajectory points (the update norm is taken against
            the value this writer saw at the previous call that logged it).
          layouts: optional ``{name: layout}``, see ``grids.grid_layout``.
          gates: optional ``{name: ["i", "f", "c", "o"]}`` gate names of a kernel.
          unit_axes: optional ``{name: axis}``, the axis of a tensor's output
            units (default -1, Keras' ``(in, out)``; 0 for PyTorch's ``(out, in)``).
          description: optional ``{name: text}`` shown in the tab.
          gradients: optional mapping (nested like ``weights``) of name to the
            gradient at this step, taken before the optimizer applied it; the
            trajectory points then carry ``grad_norm`` and ``grad_ratio``.
          spectra: write the eigenvalues of ``W^T W`` of every matrix and conv
            kernel (``tb_nnviz.reduce.spectrum``; rank-1 tensors have none). Default
            None: whenever ``heatmaps`` is on.

        Raises:
          TensorError: a name or array cannot be logged, or a name was already
            logged at ``step`` (see the class docstring); nothing of this call
            is written then.
        """
        step = _check_step(step)
        layouts, gates, description = layouts or {}, gates or {}, description or {}
        unit_axes = unit_axes or {}
        weights = flatten(weights)
        grads = flatten(gradients or {}, "gradients")
        for name in grads:
            if name not in weights:
                raise grids.TensorError("gradient %r has no weight of that name in this call" % name)
        if not isinstance(heatmaps, (bool, np.bool_)) and heatmaps != "auto":
            raise ValueError("heatmaps must be True, False or 'auto', got %r" % (heatmaps,))
        arrays = {name: grids.check_tensor(name, value) for name, value in weights.items()}
        auto = heatmaps == "auto"
        if auto:
            if self._schedule is None:
                self._schedule = log_plan.HeatmapSchedule(step)
            last = step - 1 if self._weights_step is None else self._weights_step
            due = self._schedule.crossed(last, step) or step == self._schedule.start
        heat_of = {name: bool(heatmaps) if not auto else (due or not self._has_heatmap(name)) for name in arrays}
        if auto and not self._diverged and not log_plan.all_finite(arrays.values()):
            self._diverged = True
            self._last_finite(arrays, layouts, gates, description)
            heat_of = dict.fromkeys(arrays, True)
        if spectra is None:
            spectra_of = heat_of
        else:
            spectra_of = dict.fromkeys(arrays, bool(spectra))
        heat, traj, spec = [], [], []
        for name, x in arrays.items():
            heatmaps, spectra = heat_of[name], spectra_of[name]
            self._check_once(name, step, heatmaps, trajectories, spectra)
            if heatmaps:
                content = self.heatmap_content(
                    name, x.shape, x.dtype, layouts.get(name, "auto"), gates.get(name)
                )
                heat.append((content, grids.heatmap_planes(x, content)))
            if trajectories:
                plan, content = self.plan(name, x.shape, x.dtype, unit_axes.get(name, -1))
                grad = _gradient(name, grads.get(name), x.shape)
                traj.append((content, trajectory.trajectory_point(x, self._previous.get(name), plan, grad)))
            if spectra:
                content = self.spectrum_content(name, x.shape, x.dtype, layouts.get(name, "auto"))
                if content is not None and self.spectrum_due(content):
                    spec.append((content, spectrum.eigenvalues(x, content)))
        self.write_reduced(step, heat, traj, description, spec)
        self._weights_step = step
        if trajectories:
            self._previous.update((n, np.array(x, copy=True)) for n, x in arrays.items())

    def _has_heatmap(self, name):
        return metadata.first_tag(name) in self._written

    def _last_finite(self, arrays, layouts, gates, description):
        """Writes the heatmaps of the values at the previous call with trajectories
        of the names of ``arrays`` without a heatmap at or after it."""
        by_step = {}
        for name in arrays:
            previous = self._previous.get(name)
            at = self._last_step.get(metadata.summary_tag(name, metadata.TRAJECTORY_PLUGIN_NAME))
            shown = self._last_step.get(metadata.summary_tag(name, metadata.HEATMAP_PLUGIN_NAME), -1)
            if previous is None or at is None or shown >= at:
                continue
            content = self.heatmap_content(name, previous.shape, previous.dtype, layouts.get(name, "auto"),
                                           gates.get(name))
            by_step.setdefault(at, []).append((content, grids.heatmap_planes(previous, content)))
        for at in sorted(by_step):
            self.write_reduced(at, by_step[at], description=description)

    def log_activations(
        self,
        step: int,
        activations: Mapping[str, Any],
        *,
        kinds: Mapping[str, str] | None = None,
        unit_axes: Mapping[str, int] | None = None,
        inputs: Any = None,
        heatmaps: bool = False,
        modules: Mapping[str, str] | None = None,
    ) -> None:
        """Logs the statistics of each layer's output over one batch (``layouts.ACTIVATION_FIELDS``).

        What ``tb_nnviz.torch.watch`` logs through forward hooks, for any
        framework: a custom loop, JAX (``jax.numpy`` arrays work, e.g. from
        ``Module.apply(..., capture_intermediates=True)``) or Keras.

        Args:
          step: int >= 0, the training step whose forward pass produced them.
          activations: mapping (nested like ``log_weights``' ``weights``) of
            layer name to its output over the batch, batch first, in network
            order (``{"dense_1": relu_out}``); name layers as their weights
            are named (``params/Dense_0``) so the tab and findings match them.
          kinds: ``{layer: kind}``, the activation function
            (``layouts.ACTIVATION_KINDS``: ``"relu"``, ``"sigmoid"``, ``"tanh"``,
            ``"linear"`` for a layer without one ...). Default ``"other"``:
            ``saturated_fraction`` is defined for ``sigmoid`` and ``tanh`` only.
          unit_axes: ``{layer: axis}`` of the output's units (default -1, the
            last: Dense, Keras/JAX conv in NHWC; 1 for PyTorch's ``[B, C, ...]``).
          inputs: the model's input over the same batch (optional): logged as
            the record ``"input"`` (``layouts.INPUT_FIELDS``: mean, std, min, max, nan_count).
          heatmaps: also log each layer's ``<layer>/activations`` heatmap, the
            first up to 32 samples down and the units across (a conv channel's
            mean over its positions). Default False.
          modules: optional ``{layer: class name}`` (``"Dense"``) for the records and descriptions.

        Raises:
          TensorError: a name or array cannot be logged, a kind is unknown, a
            layer changed units, or a layer was already logged at ``step``;
            nothing of this call is written then.
        """
        step = _check_step(step)
        kinds, unit_axes, modules = kinds or {}, unit_axes or {}, modules or {}
        arrays = flatten(activations, "activations")
        records, heat, description = [], [], {}
        if inputs is not None:
            x = _batch_array(act.INPUT_NAME, inputs)
            content = self.activation_content(act.INPUT_NAME, "input", x.shape, None)
            records.append((content, act.input_stats(x)))
        for name, value in arrays.items():
            x = _batch_array(name, value)
            kind, axis = kinds.get(name, "other"), unit_axes.get(name, -1)
            content = self.activation_content(name, kind, x.shape, axis, modules.get(name))
            records.append((content, act.activation_stats(x, kind, axis)))
            if heatmaps:
                # The sample axis is fixed by the layer's first heatmap; a smaller batch leaves NaN rows.
                rows = self._activation_rows.setdefault(name, min(len(x), layouts.ACTIVATION_HEATMAP_SAMPLES))
                matrix = act.heatmap_matrix(x, axis, rows)
                content = self.heatmap_content(act.heatmap_name(name), matrix.shape, "float32", "matrix",
                                               of="activations")
                heat.append((content, grids.heatmap_planes(matrix, content)))
                description[content["name"]] = act.description(modules.get(name) or kind, len(matrix))
        for content, _ in records:
            self._check_activation_once(content["name"], step)
        self.write_reduced(step, heat, description=description, activations=records)

    def log_activation_stats(
        self,
        step: int,
        stats: Mapping[str, Mapping[str, float]],
        *,
        kinds: Mapping[str, str] | None = None,
        units: Mapping[str, int] | None = None,
    ) -> None:
        """Logs activation statistics computed elsewhere: ``{layer: {field: value}}``.

        Fields are ``layouts.ACTIVATION_FIELDS`` (``layouts.INPUT_FIELDS`` for
        the layer ``"input"``, of kind ``input``), as
        ``tb_nnviz.log.activations.activation_stats`` defines them; a missing
        field is NaN, an unknown one a ``TensorError``. ``kinds`` as in
        :meth:`log_activations`; ``units`` the number of units per layer (default 0: unknown).
        """
        step = _check_step(step)
        kinds, units = kinds or {}, units or {}
        if not isinstance(stats, Mapping):
            raise grids.TensorError("stats must be a mapping of layer name to {field: value}, got %s"
                                    % type(stats).__name__)
        records = []
        for name, fields in stats.items():
            kind = "input" if name == act.INPUT_NAME else kinds.get(name, "other")
            known = layouts.INPUT_FIELDS if kind == "input" else layouts.ACTIVATION_FIELDS
            if not isinstance(fields, Mapping) or set(fields) - set(known):
                raise grids.TensorError("stats of %r must map fields of %s to numbers, got %r"
                                        % (name, ", ".join(known), fields))
            content = self.activation_content(name, kind, None, None, units=units.get(name, 0))
            records.append((content, np.array([fields.get(f, np.nan) for f in known], np.float64)))
        for content, _ in records:
            self._check_activation_once(content["name"], step)
        self.write_reduced(step, activations=records)

    def log_run_info(self, step: int, info: Mapping[str, Any]) -> None:
        """Logs a run-information record (docs/format.md, "Run information") at ``step``.

        The first record holds what is known at set-up (``framework``,
        ``optimizer``: class and configuration such as ``lr``, ``momentum``,
        ``betas``, ``weight_decay``; ``structure``: the layers in call order,
        each ``{"name", "type", "activation"?, "params"?, "output_shape"?}``;
        ``loss``; ``input``: the model input's statistics); later records
        carry only what changed, and ``lr`` as new ``[step, lr]`` pairs, which
        readers append. Values must be JSON-able (numpy scalars work; NaN and
        Inf become null).
        """
        step = _check_step(step)
        self.write_reduced(step, run_info=act.run_info_bytes(dict(info)))

    def log_graph(self, step: int, record: Mapping[str, Any]) -> None:
        """Logs a model graph record (docs/format.md, "Model graph") at ``step``.

        ``record``: ``{"framework", "model", "connections": "known" | "unknown",
        "nodes": [graph.node(...), ...], "blocks": [{"name", "type", "parent"}, ...],
        "edges": [[from, to], ...]}``; ValueError names a malformed part.
        """
        step = _check_step(step)
        self.write_reduced(step, graph=graph_format.encode(dict(record)))

    def activation_content(
        self,
        name: str,
        kind: str,
        shape: Sequence[int] | None,
        unit_axis: int | None = -1,
        module: str | None = None,
        order: int | None = None,
        units: int | None = None,
    ) -> dict[str, Any]:
        """The activation content of layer ``name``, fixed when it is first logged.

        ``shape``: the output's shape (batch first) from which the unit axis and
        count follow (None: ``units`` given). ``order``: its position in the
        forward pass (default: the order this writer first sees the names in).
        Raises ``TensorError`` when the kind or (with ``shape``) the units changed since.
        """
        grids.check_name(name)
        if kind == "input":
            axis, units = None, 0  # the input has no units
        elif shape is not None:
            axis = act.unit_axis_of(tuple(shape), -1 if unit_axis is None else unit_axis)
            units = 1 if axis is None else int(shape[axis])
        else:
            axis = unit_axis
        known = self._activations.get(name)
        if known is None:
            order = len(self._activations) if order is None else order
            content = act.activation_content(name, kind, order, axis, units or 0, module=module,
                                             shape=None if shape is None else tuple(shape))
            self._activations[name] = known = content
        act.check_kind(kind)
        if kind != known["activation"]:
            raise grids.TensorError("layer %r changed its activation kind from %r to %r"
                                    % (name, known["activation"], kind))
        if shape is not None and kind != "input" and (axis, units) != (known["unit_axis"], known["units"]):
            raise grids.TensorError("layer %r changed units from %s on axis %s to %s on axis %s"
                                    % (name, known["units"], known["unit_axis"], units, axis))
        return known

    def _check_activation_once(self, name, step):
        if self._last_step.get(metadata.summary_tag(name, metadata.ACTIVATION_PLUGIN_NAME)) == step:
            raise grids.TensorError(
                "layer %r: its activations were already logged at step %d by this writer; "
                "log each layer once per step" % (name, step))

    @property
    def max_cells(self) -> int:
        """The heatmap cell budget of one tensor."""
        return self._options["max_cells"]

    def heatmap_content(
        self,
        name: str,
        shape: Sequence[int],
        dtype: npt.DTypeLike,
        layout: str = "auto",
        gates: Sequence[str] | None = None,
        max_cells: int | None = None,
        of: str | None = None,
    ) -> dict[str, Any]:
        """The heatmap content of ``name``, fixed when it is first logged.

        ``max_cells`` overrides the writer's cell budget (a model-wide budget,
        see ``grids.heatmap_cap``). ``of``: what the heatmap shows when it is
        not a weight (``"activations"``: a layer's output, samples x units),
        recorded in the content so readers do not count it as parameters.
        Raises ``TensorError`` when the tensor changed shape, dtype or layout since.
        """
        cells = self._options["max_cells"] if max_cells is None else max_cells
        if max_cells is None and self.full_resolution and log_plan.selected(name, self.full_resolution, None):
            cells = grids.full_resolution_cells(shape, grids.grid_layout(tuple(shape), layout), cells)
        known = self._heatmaps.get(name)
        content = grids.heatmap_content(
            name, tuple(shape), dtype, layout, cells, gates, index=self._index(name)
        )
        if of is not None:
            content["of"] = str(of)
        if known is None:
            self._heatmaps[name] = known = content
        _check_same(name, known, content)
        return known

    def plan(
        self, name: str, shape: Sequence[int], dtype: npt.DTypeLike, unit_axis: int = -1
    ) -> tuple[trajectory.TrajectoryPlan, dict[str, Any]]:
        """``(TrajectoryPlan, content)`` of ``name``, fixed when it is first logged."""
        if name not in self._plans:
            plan = trajectory.TrajectoryPlan(name, tuple(shape), unit_axis=unit_axis, **self._plan_options)
            self._plans[name] = (plan, plan.content(dtype, index=self._index(name)))
        plan, content = self._plans[name]
        if tuple(shape) != plan.shape:
            raise grids.TensorError(
                "tensor %r changed shape from %s to %s" % (name, list(plan.shape), list(shape))
            )
        _check_same(name, content, plan.content(dtype, index=content.get("index")))
        return plan, content

    def spectrum_content(
        self, name: str, shape: Sequence[int], dtype: npt.DTypeLike, layout: str = "auto"
    ) -> dict[str, Any] | None:
        """The spectrum content of ``name`` (``spectrum.spectrum_content``), fixed
        when first logged; None for a tensor without a matrix (rank 1). Raises
        ``TensorError`` when the tensor changed shape, dtype or layout since."""
        known = self._spectra.get(name, False)
        index = self._index(name) if known is False else (known or {}).get("index")
        content = spectrum.spectrum_content(name, tuple(shape), dtype, layout, index=index)
        if known is False:
            self._spectra[name] = known = content
        if known != content:
            _check_same(name, known or {}, content or {})
        return known

    def spectrum_due(self, content: Mapping[str, Any]) -> bool:
        """Whether a step of ``content``'s spectrum is to be written: always,
        except for a skipped (too large) tensor, whose empty array with the
        reason is written once."""
        tag = metadata.summary_tag(content["name"], metadata.SPECTRUM_PLUGIN_NAME)
        return not content["skipped"] or tag not in self._written

    def _index(self, name):
        """Network order: the position of ``name`` among the names this writer has seen."""
        return self._order.setdefault(name, len(self._order))

    def write_reduced(
        self,
        step: int,
        heatmaps: Iterable[tuple[Mapping[str, Any], np.ndarray]] = (),
        trajectories: Iterable[tuple[Mapping[str, Any], np.ndarray]] = (),
        description: Mapping[str, str] | None = None,
        spectra: Iterable[tuple[Mapping[str, Any], npt.ArrayLike]] = (),
        activations: Iterable[tuple[Mapping[str, Any], npt.ArrayLike]] = (),
        run_info: bytes | None = None,
        graph: bytes | None = None,
    ) -> None:
        """Writes reductions computed elsewhere (TensorFlow, PyTorch) as one event.

        Args:
          step: int >= 0.
          heatmaps: ``(content, planes)`` pairs, the content from
            :meth:`heatmap_content` and planes as ``grids.heatmap_planes`` makes them.
          trajectories: ``(content, point)`` pairs, the content from :meth:`plan`.
          description: optional ``{name: text}``.
          spectra: ``(content, eigenvalues)`` pairs, the content from
            :meth:`spectrum_content` and the array as ``spectrum.eigenvalues`` makes it.
          activations: ``(content, stats)`` pairs, the content from
            :meth:`activation_content` and the float64 vector of its ``fields``.
          run_info: a run-information record as ``activations.run_info_bytes`` makes it.
          graph: a model graph record as ``tb_nnviz.format.graph.encode`` makes it.

        The first heatmap of each name also goes to its first-heatmap tag.
        """
        step = _check_step(step)
        description = description or {}
        trajectories, activations = list(trajectories), list(activations)  # read twice below
        values = []
        for content, planes in heatmaps:
            name = content["name"]
            values.append(self._value(
                metadata.HEATMAP_PLUGIN_NAME, name, content, planes, description.get(name),
            ))
            if metadata.first_tag(name) not in self._written:
                values.append(self._value(
                    metadata.HEATMAP_PLUGIN_NAME, name, dict(content, first=True), planes,
                    description.get(name), tag=metadata.first_tag(name),
                ))
        for content, point in trajectories:
            values.append(self._chunked(metadata.TRAJECTORY_PLUGIN_NAME, content, point, description))
        for content, evals in spectra:
            values.append(self._value(
                metadata.SPECTRUM_PLUGIN_NAME, content["name"], content,
                np.asarray(evals, np.float32), description.get(content["name"]),
            ))
        for content, stats in activations:
            values.append(self._chunked(metadata.ACTIVATION_PLUGIN_NAME, content, np.asarray(stats, np.float64),
                                        description))
        if run_info is not None:
            values.append(self._value(
                metadata.RUN_PLUGIN_NAME, metadata.RUN_INFO_NAME, act.RUN_CONTENT,
                np.frombuffer(run_info, np.uint8), None,
            ))
        if graph is not None:
            values.append(self._value(
                metadata.GRAPH_PLUGIN_NAME, metadata.GRAPH_NAME, metadata.GRAPH_CONTENT,
                np.frombuffer(graph, np.uint8), None,
            ))
        event = event_pb2.Event(
            step=step, wall_time=time.time(), summary=summary_pb2.Summary(value=values)
        )
        self._writer.add_event(event)
        for value in values:
            self._written.add(value.tag)
            self._last_step[value.tag] = step
        for plugin_name, contents in ((metadata.TRAJECTORY_PLUGIN_NAME, trajectories),
                                      (metadata.ACTIVATION_PLUGIN_NAME, activations)):
            for content, _ in contents:
                key = (plugin_name, content["name"])
                self._points[key] = self._points.get(key, 0) + 1
                self._last_step[metadata.summary_tag(content["name"], plugin_name)] = step

    def _check_once(self, name, step, heatmaps, trajectories, spectra=False):
        for kind, on, plugin_name in [
            ("heatmap", heatmaps, metadata.HEATMAP_PLUGIN_NAME),
            ("trajectory", trajectories, metadata.TRAJECTORY_PLUGIN_NAME),
            ("spectrum", spectra, metadata.SPECTRUM_PLUGIN_NAME),
        ]:
            if on and self._last_step.get(metadata.summary_tag(name, plugin_name)) == step:
                raise grids.TensorError(
                    "tensor %r: its %s was already logged at step %d by this writer; "
                    "log each name once per step (do two tensors share this name?)"
                    % (name, kind, step)
                )

    def _chunked(self, plugin_name, content, array, description):
        """The value of one point of a chunked kind, under the tag of its chunk."""
        name = content["name"]
        chunk = self._points.get((plugin_name, name), 0) // metadata.CHUNK_POINTS
        return self._value(plugin_name, name, dict(content, chunk=chunk) if chunk else content, array,
                           description.get(name), tag=metadata.chunk_tag(name, plugin_name, chunk))

    def _value(self, plugin_name, name, content, array, description, tag=None):
        tag = tag or metadata.summary_tag(name, plugin_name)
        value = summary_pb2.Summary.Value(tag=tag, tensor=_tensor_proto(array))
        if tag not in self._written:
            value.metadata.CopyFrom(metadata.summary_metadata(plugin_name, content, description))
        return value

    def flush(self) -> None:
        """Writes everything queued so far to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file; the writer cannot be used afterwards."""
        self._writer.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def flatten(tree: Mapping[str, Any], what: str = "weights") -> dict[str, Any]:
    """``{path: leaf}`` of a mapping whose values are arrays or nested mappings.

    Keys are joined with ``/``; order is kept (network order for a Flax or
    Haiku params dict). Raises ``TensorError`` naming a non-string key or a
    path that two entries share.
    """
    if not isinstance(tree, Mapping):
        raise grids.TensorError("%s must be a mapping of name to array, got %s" % (what, type(tree).__name__))
    out = {}

    def walk(prefix, node):
        for key, value in node.items():
            if prefix and not isinstance(key, str):
                raise grids.TensorError("%s: tensor name under %r must be a string, got %r" % (what, prefix, key))
            path = prefix + "/" + key if prefix else key  # a bad top-level name: log_weights names it
            if isinstance(value, Mapping):
                walk(path, value)
            elif path in out:
                raise grids.TensorError("%s: two entries are both named %r" % (what, path))
            else:
                out[path] = value

    walk("", tree)
    return out


#: Dtypes of the small vectors every step writes many of, and their TensorProto dtype.
_FAST_DTYPES = {np.dtype(np.float64): types_pb2.DT_DOUBLE, np.dtype(np.uint8): types_pb2.DT_UINT8}


def _tensor_proto(array):
    """``tensor_util.make_tensor_proto(array)``; a float64 or uint8 vector (activation
    statistics, run information) built directly, as it would build it, at a tenth of the cost."""
    a = np.asarray(array)
    dtype = _FAST_DTYPES.get(a.dtype)
    if dtype is None or a.ndim != 1:
        return tensor_util.make_tensor_proto(a)
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(a))])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, tensor_content=a.astype(a.dtype.newbyteorder("<"),
                                                                                         copy=False).tobytes())


def _batch_array(name, value):
    """``value`` as a numeric array with a batch axis and entries; raises ``TensorError`` naming ``name``."""
    x = grids.check_tensor(name, value)
    if x.ndim == 0 or x.size == 0:
        raise grids.TensorError("activations of %r must have a batch axis and entries, got shape %s"
                                % (name, list(x.shape)))
    return x


def _gradient(name, value, shape):
    """``value`` as an array of ``shape``, or None; raises ``TensorError`` naming ``name``."""
    if value is None:
        return None
    g = grids.check_tensor("gradient of " + name, value)
    if g.shape != tuple(shape):
        raise grids.TensorError(
            "gradient of %r has shape %s, its weight %s" % (name, list(g.shape), list(shape))
        )
    return g


def _check_step(step):
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError("step must be an int >= 0, got %r" % (step,))
    return int(step)


def _check_same(name, known, content):
    if known != content:
        changed = sorted(k for k in content if known.get(k) != content.get(k))
        raise grids.TensorError(
            "tensor %r changed %s since it was first logged (%s -> %s)"
            % (name, ", ".join(changed), [known.get(k) for k in changed], [content.get(k) for k in changed])
        )
