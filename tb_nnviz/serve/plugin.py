"""TensorBoard backend of the NNViz tab: the loader, the plugin and its HTTP routes.

TensorBoard finds it through the entry point
``tensorboard_plugins: nnviz = tb_nnviz.serve.plugin:NNVizLoader``. A module that
fails to import stops TensorBoard from starting, so this one imports only
numpy, werkzeug and tensorboard (never TensorFlow).

Data is read only through ``context.data_provider``, so the tab works with the
Python loader (``--load_fast=false``) and the Rust data server alike. Every
route is a thin ``_*_route(request)`` that parses the query and calls a pure
``_*_impl(ctx, experiment, ...)``; bad input raises
``tensorboard.errors.InvalidArgumentError`` (400) or ``NotFoundError`` (404).
The routes are documented in ``docs/http_api.md``.

The answers of ``tags`` (per run), ``overview`` and ``findings`` are kept
(``memo.Memo``) while the data provider lists the same tags with the same
latest step and wall time for what they read: a reload that adds nothing
costs only the listing, and a new step is in the next answer.
"""

import copy
import json
import math
import os
import re

import numpy as np
from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_nnviz.diagnose import compose, findings, pca, rates, spectral
from tb_nnviz.format import heatmap_body, layouts, metadata
from tb_nnviz.serve import graph_store, loss_store, memo, spectral_store, store

HEATMAP = metadata.HEATMAP_PLUGIN_NAME
TRAJECTORY = metadata.TRAJECTORY_PLUGIN_NAME
SPECTRUM = metadata.SPECTRUM_PLUGIN_NAME
ACTIVATION = metadata.ACTIVATION_PLUGIN_NAME
RUN = metadata.RUN_PLUGIN_NAME

#: ``--samples_per_plugin`` default for heatmaps when the user gave none: steps
#: kept per heatmap tag (a 256 x 256 heatmap is 256 KiB per step in memory).
DEFAULT_HEATMAP_SAMPLES = 100
#: ``--samples_per_plugin`` default for trajectories: 0 keeps every step (the
#: Python loader's reservoir treats 0 as unbounded; TensorBoard passes 0 to the
#: Rust data server as ``all``).
DEFAULT_TRAJECTORY_SAMPLES = 0
#: ``--samples_per_plugin`` default for spectra: steps kept per tensor. A step
#: holds min(rows, cols) float32 eigenvalues per matrix (ResNet-50: 43,549
#: eigenvalues, 0.17 MiB, for all its kernels), so 200 steps stay below 35 MiB; the default
#: cadence (each epoch) keeps every step of a run of up to 200 epochs.
DEFAULT_SPECTRUM_SAMPLES = 200
#: ``--samples_per_plugin`` default for activation statistics and run
#: information: 0 keeps every step (a few numbers per layer and step; the
#: run information's learning-rate records add up over all steps).
DEFAULT_EVIDENCE_SAMPLES = 0
DIFF_MODES = ("none", "prev", "first")
#: Runs whose ``tags``, ``overview`` and ``findings`` answers are kept (a few KiB each).
ANSWERS_KEPT = 1024
#: Where the frontend build writes the tab: one ES module, ``index.js``, the
#: only file served (``frontend/build.mjs``).
_STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_STEP_PATTERN = re.compile(r"[0-9]{1,18}\Z")


class NNVizLoader(base_plugin.TBLoader):
    """Loads :class:`NNVizPlugin` and sets sampling defaults for our data."""

    def fix_flags(self, flags):
        """Keeps every trajectory step and ``DEFAULT_HEATMAP_SAMPLES`` heatmap steps.

        Only names the user did not give in ``--samples_per_plugin`` are set;
        the user's own value always wins.
        """
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            samples = {}
        if not isinstance(samples, dict):
            return  # not parsed by TensorBoard's core flags; leave it alone
        samples = dict(samples)
        samples.setdefault(HEATMAP, DEFAULT_HEATMAP_SAMPLES)
        samples.setdefault(TRAJECTORY, DEFAULT_TRAJECTORY_SAMPLES)
        samples.setdefault(SPECTRUM, DEFAULT_SPECTRUM_SAMPLES)
        samples.setdefault(ACTIVATION, DEFAULT_EVIDENCE_SAMPLES)
        samples.setdefault(RUN, DEFAULT_EVIDENCE_SAMPLES)
        flags.samples_per_plugin = samples

    def load(self, context):
        return NNVizPlugin(context)


class NNVizPlugin(base_plugin.TBPlugin):
    """Serves heatmaps, trajectories and the weight-space path of a log dir."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context, static_dir=None):
        self._store = store.Store(context.data_provider)
        self._spectral = spectral_store.SpectralReader(self._store)
        self._data_provider = context.data_provider  # the loss curves are TensorBoard's own scalars
        self._tags_memo, self._overview_memo, self._findings_memo = (memo.Memo(ANSWERS_KEPT) for _ in range(3))
        self._static_dir = static_dir or _STATIC_DIR

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="NNViz", disable_reload=False
        )

    def data_plugin_names(self):
        return metadata.DATA_PLUGIN_NAMES

    def is_active(self):
        return False  # TensorBoard activates the tab via data_plugin_names()

    def get_plugin_apps(self):
        return {
            "/index.js": self._index_js_route,
            "/tags": self._tags_route,
            "/heatmap": self._heatmap_route,
            "/trajectory": self._trajectory_route,
            "/projection": self._projection_route,
            "/overview": self._overview_route,
            "/ranges": self._ranges_route,
            "/findings": self._findings_route,
            "/spectral": self._spectral_route,
            "/activations": self._activations_route,
            "/graph": self._graph_route,
        }

    # -- routes ---------------------------------------------------------------

    @wrappers.Request.application
    def _index_js_route(self, request):
        return http_util.Respond(request, _index_js(self._static_dir), "application/javascript")

    @wrappers.Request.application
    def _tags_route(self, request):
        ctx, eid = _context(request)
        return _respond_json(request, self._tags_impl(ctx, eid))

    @wrappers.Request.application
    def _heatmap_route(self, request):
        ctx, eid = _context(request)
        diff = request.args.get("diff") or "none"
        if diff not in DIFF_MODES:
            raise errors.InvalidArgumentError(
                "diff must be one of %s, got %r" % (", ".join(DIFF_MODES), diff)
            )
        body = self._heatmap_impl(
            ctx, eid, _arg(request, "run"), _arg(request, "tag"), _step_arg(request), diff
        )
        return http_util.Respond(request, body, "application/octet-stream")

    @wrappers.Request.application
    def _trajectory_route(self, request):
        ctx, eid = _context(request)
        body = self._trajectory_impl(ctx, eid, _arg(request, "run"), _arg(request, "tag"))
        return _respond_json(request, body)

    @wrappers.Request.application
    def _projection_route(self, request):
        ctx, eid = _context(request)
        runs = [r for r in request.args.getlist("run") if r]
        if not runs:
            raise errors.InvalidArgumentError("missing required query parameter 'run'")
        tag = request.args.get("tag") or None
        return _respond_json(request, self._projection_impl(ctx, eid, runs, tag))

    @wrappers.Request.application
    def _overview_route(self, request):
        ctx, eid = _context(request)
        return _respond_json(request, self._overview_impl(ctx, eid, _arg(request, "run")))

    @wrappers.Request.application
    def _findings_route(self, request):
        ctx, eid = _context(request)
        found = self._findings_impl(ctx, eid, _arg(request, "run"))
        # docs/http_api.md: {"findings": [...], "notes": [...]}; the notes say what could not be judged.
        return _respond_json(request, {"findings": list(found), "notes": list(found.notes)})

    @wrappers.Request.application
    def _ranges_route(self, request):
        ctx, eid = _context(request)
        return _respond_json(request, self._ranges_impl(ctx, eid, _arg(request, "run"), _arg(request, "tag")))

    @wrappers.Request.application
    def _spectral_route(self, request):
        ctx, eid = _context(request)
        run, tag = _arg(request, "run"), request.args.get("tag")
        if not tag:
            return _respond_json(request, self._spectral_run_impl(ctx, eid, run))
        step = _step_arg(request) if "step" in request.args else None
        return _respond_json(request, self._spectral_impl(ctx, eid, run, tag, step))

    @wrappers.Request.application
    def _activations_route(self, request):
        ctx, eid = _context(request)
        return _respond_json(request, self._activations_impl(ctx, eid, _arg(request, "run")))

    @wrappers.Request.application
    def _graph_route(self, request):
        ctx, eid = _context(request)
        return _respond_json(request, self._graph_impl(ctx, eid, _arg(request, "run")))

    # -- implementations ------------------------------------------------------

    def _tags_impl(self, ctx, eid):
        """``{"runs": {run: {tensor: info}}, "errors": [...]}``; see docs/http_api.md."""
        heat, heat_errors = self._store.index(ctx, eid, HEATMAP)
        traj, traj_errors = self._store.index(ctx, eid, TRAJECTORY)
        runs = {}
        for run in sorted(set(heat) | set(traj)):
            h_run, t_run = heat.get(run, {}), traj.get(run, {})
            runs[run] = self._tags_memo.get((eid, run), (store.stamps(h_run), store.stamps(t_run)),
                                            lambda: self._run_tags(ctx, eid, run, h_run, t_run))
        return {"runs": runs, "errors": heat_errors + traj_errors}

    def _run_tags(self, ctx, eid, run, h_run, t_run):
        """``{tensor: info}`` of one run for ``tags`` from its heatmap and trajectory entries
        (kept and served again by ``_tags_impl``: not to be modified)."""
        # The steps of every tensor, read in a few calls (a first answer, or new steps logged).
        self._store.prefetch(ctx, eid, TRAJECTORY, run, t_run, steps_only=True)
        self._store.prefetch(ctx, eid, HEATMAP, run, h_run, steps_only=True, keep_values=False)
        tensors = {}
        for name in sorted(set(h_run) | set(t_run)):
            h, t = h_run.get(name), t_run.get(name)
            t_steps = self._store.steps(ctx, eid, TRAJECTORY, run, t) if t else np.zeros(0, np.int64)
            if h is not None:
                c = h.content
                info = {
                    "kind": "heatmap",
                    "shape": c["shape"],
                    "dtype": c.get("dtype"),
                    "layout": c["layout"],
                    "grid": c["grid"],
                    "pool": c["pool"],
                    "planes": c["planes"],
                    "gates": c.get("gates"),
                    "steps": self._store.steps(ctx, eid, HEATMAP, run, h).tolist(),
                }
            else:
                c = t.content
                info = {
                    "kind": "trajectory",
                    "shape": c["shape"],
                    "dtype": c.get("dtype"),
                    "layout": None,
                    "grid": None,
                    "pool": None,
                    "planes": [],
                    "gates": None,
                    "steps": t_steps.tolist(),
                }
            info["group"] = name.rpartition("/")[0]
            info["description"] = (h or t).series.description
            info["has_trajectory"] = t is not None
            # What a heatmap shows when it is not a weight ("activations": samples x units), else None.
            info["of"] = h.content.get("of") if h is not None else None
            info["trajectory_steps"] = len(t_steps)
            # Position in network order, from the writer (None for older logs).
            index = (h or t).content.get("index")
            info["index"] = index if isinstance(index, int) else None
            tensors[name] = info
        return tensors

    def _heatmap_impl(self, ctx, eid, run, tag, step, diff="none"):
        """The binary heatmap of ``tag`` at ``step`` (see ``heatmap_body``)."""
        entry, series = self._store.lookup(ctx, eid, HEATMAP, run, tag, step)
        i = series.index(step)
        if i is None:
            raise errors.NotFoundError(
                "run %r tensor %r has no heatmap at step %d (%s)"
                % (run, tag, step, _describe_steps(series.steps))
            )
        planes = series.values[i]
        base = None
        if diff == "prev":
            if i == 0:
                raise errors.InvalidArgumentError(
                    "diff=prev: step %d is the first logged heatmap step of run %r "
                    "tensor %r, so it has no previous step" % (step, run, tag)
                )
            base = i - 1
        elif diff == "first":
            base = 0
        if base is not None:
            with np.errstate(invalid="ignore", over="ignore"):
                planes = planes - series.values[base]
        header = {
            "step": int(series.steps[i]),
            "wall_time": float(series.wall_times[i]),
            "shape": list(planes.shape),
            "planes": entry.content["planes"],
            "diff": diff,
            "base_step": None if base is None else int(series.steps[base]),
        }
        header.update(heatmap_body.plane_stats(planes[0]))
        return heatmap_body.encode_heatmap(header, planes)

    def _ranges_impl(self, ctx, eid, run, tag):
        """Max |x| of the heatmap's first plane over all logged steps, per diff mode.

        The tab's "fixed" and "shared" colour ranges use these, so they are exact from
        the first draw instead of growing with the steps viewed.
        """
        _, series = self._store.lookup(ctx, eid, HEATMAP, run, tag)
        first = series.values[:, 0]
        with np.errstate(invalid="ignore", over="ignore"):
            return {
                "steps": len(series.steps),
                "none": _abs_max(first),
                "prev": _abs_max(first[1:] - first[:-1]) if len(first) > 1 else None,
                "first": _abs_max(first - first[:1]),
            }

    def _trajectory_impl(self, ctx, eid, run, tag):
        """Every logged trajectory point of ``tag`` as JSON-ready columns."""
        entry, series = self._store.lookup(ctx, eid, TRAJECTORY, run, tag)
        c = entry.content
        layout = layouts.point_layout(c)
        body = {
            "run": run,
            "tag": tag,
            "step": series.steps.tolist(),
            "wall_time": series.wall_times.tolist(),
        }
        for field, column in layout.fields.items():
            body[field] = _finite_list(series.values[:, column])
        shape = tuple(c["shape"])
        view = _per_step(tag, shape, series.steps, layout.fields, series.values)
        body["update_ratio_per_step"] = _finite_list(view.rate)
        body["update_steps"] = _finite_list(view.gap)
        body["traces"] = {
            "index": [[int(i) for i in np.unravel_index(t, shape)] for t in c["traces"]],
            "values": [_finite_list(column) for column in series.values[:, layout.traces].T],
        }
        return body

    def _projection_impl(self, ctx, eid, runs, tag=None):
        """PCA of the summed sketches of each run's tensors over its logged steps."""
        runs = list(dict.fromkeys(runs))
        index, _ = self._store.index(ctx, eid, TRAJECTORY, runs=runs)
        per_run, names, dim = {}, set(), None
        for run in runs:
            entries = index.get(run)
            if not entries:
                raise errors.NotFoundError("run %r has no nnviz trajectory data" % run)
            if tag is not None:
                if tag not in entries:
                    raise errors.NotFoundError("run %r has no trajectory for tensor %r" % (run, tag))
                entries = {tag: entries[tag]}
            dims = {e.content["sketch_dim"] for e in entries.values()}
            if len(dims) != 1 or (dim is not None and dims != {dim}):
                raise errors.InvalidArgumentError(
                    "sketches of different dimensions (%s) cannot be combined; "
                    "pick one tensor with tag=" % sorted(dims | ({dim} if dim else set()))
                )
            dim = dims.pop()
            common, total = self._store.summed_sketch(ctx, eid, run, entries, dim)
            per_run[run] = (common, total, len(entries))
            names.update(entries)
        matrix = np.concatenate([total for _, total, _ in per_run.values()])
        finite = np.isfinite(matrix).all(axis=1)
        coords = np.full((len(matrix), 2), np.nan)
        coords[finite], ratio = pca.pca_2d(matrix[finite])
        body, offset = {}, 0
        for run, (steps, total, count) in per_run.items():
            xy = coords[offset : offset + len(steps)]
            offset += len(steps)
            body[run] = {
                "step": steps.tolist(),
                "x": _finite_list(xy[:, 0]),
                "y": _finite_list(xy[:, 1]),
                "tensors": count,
            }
        return {
            "runs": body,
            "explained_variance_ratio": ratio.tolist(),
            "tensors": len(names),
            "sketch_dim": dim,
        }

    def _overview_impl(self, ctx, eid, run):
        """One row per tensor of ``run``: shape, size and its latest statistics."""
        heat, _ = self._store.index(ctx, eid, HEATMAP, run)
        traj, _ = self._store.index(ctx, eid, TRAJECTORY, run)
        h_run, t_run = heat.get(run, {}), traj.get(run, {})
        if not h_run and not t_run:
            raise errors.NotFoundError("run %r has no nnviz data" % run)
        return copy.deepcopy(self._overview_memo.get(
            (eid, run), (store.stamps(h_run), store.stamps(t_run)),
            lambda: self._overview_rows(ctx, eid, run, h_run, t_run)))

    def _overview_rows(self, ctx, eid, run, h_run, t_run):
        """The rows of ``overview`` from ``run``'s heatmap and trajectory entries."""
        self._store.prefetch(ctx, eid, TRAJECTORY, run, t_run)
        rows = []
        for name in sorted(set(h_run) | set(t_run)):
            if name not in t_run and h_run[name].content.get("of"):
                continue  # an activation heatmap (docs/format.md): not a weight
            shape = (h_run.get(name) or t_run.get(name)).content["shape"]
            row = {
                "name": name,
                "layer": name.rpartition("/")[0],
                "shape": shape,
                "parameters": math.prod(shape),
                "step": None,
                "update_ratio": None,
                "update_ratio_per_step": None,
                "update_steps": None,
                "grad_ratio": None,
                "norm": None,
                "nonfinite": None,
                "nonfinite_from": None,
                "last_finite_ratio_per_step": None,
                "last_finite_step": None,
            }
            t = t_run.get(name)
            if t is not None:
                s = self._store.series(ctx, eid, TRAJECTORY, run, t)
                if not len(s.steps):
                    rows.append(row)
                    continue
                fields = layouts.point_layout(t.content).fields
                last = s.values[-1]

                def stat(field):
                    if field not in fields:
                        return None
                    v = float(last[fields[field]])
                    return v if math.isfinite(v) else None

                nan, inf = stat("nan_count"), stat("inf_count")
                view = _per_step(name, shape, s.steps, fields, s.values)
                per_step, gap = float(view.rate[-1]), float(view.gap[-1])
                row.update(
                    step=int(s.steps[-1]),
                    update_ratio=stat("update_ratio"),
                    # The findings' definition (rates.TensorView.rate): |dW|/|W| per optimizer step.
                    update_ratio_per_step=per_step if math.isfinite(per_step) else None,
                    update_steps=int(gap) if math.isfinite(gap) else None,
                    # null when the writer logged no gradients (the field holds NaN then).
                    grad_ratio=stat("grad_ratio"),
                    norm=stat("norm"),
                    nonfinite=None if nan is None or inf is None else int(nan + inf),
                )
                if "norm" in fields:
                    row.update(_last_finite(s.steps, view.rate, s.values[:, fields["norm"]]))
            rows.append(row)
        return rows

    def _findings_impl(self, ctx, eid, run):
        """What is wrong with ``run``'s training: ``compose.diagnose`` of its
        trajectories, spectra, loss scalars (and its Keras validation
        sibling's), activation statistics and run information; computed
        again only when one of those (or the loss tags in force) changed."""
        listed = tuple(self._store.listing_stamp(ctx, eid, plugin, run)
                       for plugin in (TRAJECTORY, SPECTRUM, ACTIVATION, RUN))
        stamp = listed + (loss_store.stamp(self._data_provider, ctx, eid, run), loss_store.configured_loss_tags())
        return copy.deepcopy(self._findings_memo.get((eid, run), stamp, lambda: self._diagnose(ctx, eid, run)))

    def _diagnose(self, ctx, eid, run):
        """``_findings_impl``'s answer, computed from the data."""
        tensors = [
            findings.TensorSeries(
                name, tuple(entry.content["shape"]), steps, stats,
                entry.content.get("index"), entry.content.get("unit_axis", -1),
                getattr(entry.series, "description", "") or "",
            )
            for name, entry, steps, stats in self._store.trajectories(ctx, eid, run)
        ]
        curves = loss_store.read_curves(self._data_provider, ctx, eid, run)
        problems = []  # unreadable evidence records: the rules then say what they could not judge
        activations = self._store.activations(ctx, eid, run, problems)
        run_info = self._store.run_info(ctx, eid, run, problems)
        # A list with ``.notes``: what the rules could not judge (the route sends both).
        found = compose.diagnose(tensors, self._spectral.alpha_series(ctx, eid, run), curves, activations, run_info)
        found.notes += ["a malformed record of %s was skipped: %s" % (p.get("tag"), p.get("message"))
                        for p in problems]
        return found

    def _spectral_impl(self, ctx, eid, run, tag, step=None):
        """Every logged step's spectral metrics of ``tag`` as JSON-ready columns,
        and with ``step`` that step's ESD and fit; see docs/http_api.md."""
        entry, series, columns = self._spectral.table(ctx, eid, run, tag)
        c = entry.content
        body = {
            "run": run,
            "tag": tag,
            "shape": c["shape"],
            "treatment": c["treatment"],
            "slices": c["slices"],
            "matrix": c["matrix"],
            "skipped": c.get("skipped"),
            "step": series.steps.tolist(),
            "wall_time": series.wall_times.tolist(),
            "band": [spectral.ALPHA_LOW, spectral.ALPHA_HIGH],
        }
        body.update(columns)
        if step is not None:
            i = series.index(step)
            if i is None:
                raise errors.NotFoundError("run %r tensor %r has no spectrum at step %d (%s)"
                                           % (run, tag, step, _describe_steps(series.steps)))
            values = spectral.esd(series.values[i], c)[::-1]
            row = {k: columns[k][i] for k in ("alpha", "xmin", "num_tail", "D")}
            body["spectrum"] = dict(row, step=int(series.steps[i]), eigenvalues=_finite_list(values))
        return body

    def _spectral_run_impl(self, ctx, eid, run):
        """The latest spectral metrics of each of ``run``'s tensors (for the structure view).

        A run with heatmaps or trajectories but no spectra (logged with
        ``spectral_freq=0``, or not yet at its first spectral step) has no
        tensors here; an unknown run is a 404.
        """
        try:
            tensors = self._spectral.latest(ctx, eid, run)
        except errors.NotFoundError:
            if not any(self._store.index(ctx, eid, plugin, run=run)[0].get(run) for plugin in (HEATMAP, TRAJECTORY)):
                raise
            tensors = {}
        return {"run": run, "tensors": tensors, "band": [spectral.ALPHA_LOW, spectral.ALPHA_HIGH],
                "min_evals": spectral.MIN_FINDING_EVALS}


    def _activations_impl(self, ctx, eid, run):
        """``run``'s activation statistics per layer and its run information; see docs/http_api.md."""
        problems = []
        layers = self._store.activations(ctx, eid, run, problems)
        info = self._store.run_info(ctx, eid, run, problems)
        if not layers and info is None and not problems:
            raise errors.NotFoundError("run %r has no nnviz activation statistics or run information" % run)
        body = []
        for a in layers:
            row = {"layer": a.layer, "kind": a.kind, "order": a.order, "step": a.steps.tolist()}
            row.update((field, _finite_list(values)) for field, values in a.fields.items())
            body.append(row)
        return {"run": run, "layers": body, "run_info": None if info is None else metadata.json_value(info._asdict()),
                "errors": problems}

    def _graph_impl(self, ctx, eid, run):
        """``run``'s model graph record (its last) and the step it was logged at; see docs/http_api.md."""
        problems = []
        record, step = graph_store.read(self._store, self._data_provider, ctx, eid, run, problems)
        # A run without a graph (logged before graphs were, or by a writer that logs none) is not
        # an error: ``graph`` null and no errors (a 404 would be a console error in every tab).
        return {"run": run, "step": step, "graph": metadata.json_value(record), "errors": problems}


# -- pure helpers ---------------------------------------------------------------


def _index_js(static_dir):
    """The bytes of the built tab, ``<static_dir>/index.js``, or NotFoundError.

    The name is fixed, never taken from the request, so no path can escape.
    """
    path = os.path.join(static_dir, "index.js")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise errors.NotFoundError(
            "the NNViz frontend is not built: %s is missing (build frontend/ "
            "into tb_nnviz/serve/static, see README)" % path
        ) from None


def _context(request):
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def _arg(request, name):
    value = request.args.get(name)
    if not value:
        raise errors.InvalidArgumentError("missing required query parameter %r" % name)
    return value


def _step_arg(request):
    value = _arg(request, "step")
    if not _STEP_PATTERN.match(value):
        raise errors.InvalidArgumentError(
            "step must be a non-negative integer, got %r" % value
        )
    return int(value)


def _describe_steps(steps):
    if not len(steps):
        return "no steps logged"
    return "%d logged steps from %d to %d" % (len(steps), steps[0], steps[-1])


def _respond_json(request, body):
    text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    return http_util.Respond(request, text, "application/json")


def _per_step(name, shape, steps, fields, values):
    """The ``rates.TensorView`` of a trajectory (``values`` columns by ``fields``):
    its ``rate`` is |dW|/|W| per optimizer step, the number the findings judge."""
    stats = {f: values[:, fields[f]] for f in ("norm", "update_norm") if f in fields}
    return rates.TensorView(rates.TensorSeries(name, tuple(shape), steps, stats))


def _last_finite(steps, rate, norm):
    """A broken tensor's last finite update ratio: ``{"nonfinite_from": the first step of
    the run of non-finite norms that lasts to the end (None: the latest norm is finite),
    "last_finite_ratio_per_step" and "last_finite_step": the latest finite ``rate`` before
    it}`` (both None when there is none).

    >>> r = _last_finite(np.array([0, 1, 2, 3]), np.array([np.nan, 1e-3, np.nan, np.nan]),
    ...                  np.array([1.0, 1.1, np.nan, np.inf]))
    >>> r == {"nonfinite_from": 2, "last_finite_ratio_per_step": 1e-3, "last_finite_step": 1}
    True
    """
    finite_norm = np.flatnonzero(np.isfinite(norm))
    end = int(finite_norm[-1]) + 1 if finite_norm.size else 0
    out = {"nonfinite_from": int(steps[end]) if end < len(steps) else None,
           "last_finite_ratio_per_step": None, "last_finite_step": None}
    finite_rate = np.flatnonzero(np.isfinite(rate[:end]))
    if finite_rate.size:
        k = int(finite_rate[-1])
        out.update(last_finite_ratio_per_step=float(rate[k]), last_finite_step=int(steps[k]))
    return out


def _abs_max(values):
    """The largest finite |x| in ``values`` as a float, or None when there is none."""
    a = np.abs(np.asarray(values, np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else None




def _finite_list(values):
    """A list of floats with NaN and +/-Inf as None (valid JSON)."""
    values = np.asarray(values, np.float64)
    return np.where(np.isfinite(values), values, None).tolist()
