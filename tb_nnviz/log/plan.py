"""What a model logger fixes once, whatever the framework: contents, plans, groups.

``tb_nnviz.log.tf_logger`` (TensorFlow) and ``tb_nnviz.log.torch_logger`` (PyTorch)
both reduce stacks of same-shaped weights where the weights live and write the
small results through a ``tb_nnviz.Writer``. Everything around the reductions
is the same for both and lives here: the per-tensor heatmap contents under the
model-wide cell budget, the trajectory plans, how weights are grouped into
stacks, and turning one step's reductions into the written event.

>>> import tempfile, numpy as np
>>> from tb_nnviz import Writer
>>> with Writer(tempfile.mkdtemp()) as writer:
...     plan = LogPlan(writer, [Weight("a", None), Weight("b", None), Weight("c", None)],
...                    [(4, 3), (4, 3), (3,)], ["float32"] * 3)
...     plan.stacks, plan.traj_groups
([[0, 1], [2]], [[0, 1], [2]])
"""

import collections
import re
import time
import warnings

import numpy as np

from tb_nnviz.log.event_file import WriteFailed
from tb_nnviz.reduce import grids, trajectory

#: Default model-wide budget of heatmap values per logged step (1 MiB of
#: float32); see ``grids.heatmap_cap``. A model whose weights fit is shown
#: exactly (up to ``max_cells`` per tensor); a larger one is pooled evenly.
#: 1 MiB keeps a heatmap step of ResNet-50, MobileNetV2 or a 4-block
#: transformer, trajectory points included, within twice what TensorBoard's
#: callback writes per epoch (histograms and images; BENCHMARKS.md).
DEFAULT_MAX_TOTAL_CELLS = 2**18


class Weight(collections.namedtuple(
    "Weight", "name variable layout gates description unit_axis",
    defaults=("auto", None, None, -1),
)):
    """One weight to log: its name, the framework's variable and how to lay it out.

    ``variable`` is what the logger reads the current value from at each step
    (a ``tf.Variable`` or a ``torch.nn.Parameter``); ``layout`` and ``gates`` as
    in ``grids.heatmap_content``, ``unit_axis`` as in ``trajectory.TrajectoryPlan``;
    ``description`` is shown in the tab.
    """


def group(items, key):
    """``items`` grouped by ``key``, groups and members in first-seen order.

    >>> group([1, 2, 3, 4], lambda i: i % 2)
    [[1, 3], [2, 4]]
    """
    groups = {}
    for i in items:
        groups.setdefault(key(i), []).append(i)
    return list(groups.values())


class LogPlan:
    """The fixed choices for logging ``weights`` through ``writer``.

    Args:
      writer: a ``tb_nnviz.Writer`` (its cell budget and trajectory options apply).
      weights: ``Weight`` s in network order.
      shapes, dtypes: each weight's shape (tuple of ints) and dtype name.
      heatmaps, trajectories, spectra: whether each kind will ever be logged.
      max_total_cells: model-wide heatmap budget (``grids.heatmap_cap``).
      stack_key: optional ``i -> key``; weights share a stack only when their
        shape, dtype and this key agree (PyTorch: the device).
      full_resolution: weights whose heatmaps are drawn unpooled (up to
        ``grids.FULL_RESOLUTION_CELLS``), outside the model-wide budget and
        ``max_cells``: a regex (``re.search`` on the name) or a list of them.
        Default None: the writer's ``full_resolution``.

    Attributes:
      heat: each weight's heatmap content (empty without heatmaps).
      traj: each weight's ``(TrajectoryPlan, content)`` (empty without trajectories).
      stacks: lists of weight indices of one shape and dtype, reduced together.
      heat_groups: per stack, its members split by heatmap layout and pooling.
      traj_groups: stacks split by unit axis; each is one trajectory reduction.
      spec: each weight's spectrum content (``tb_nnviz.reduce.spectrum``; None for a
        vector), empty without spectra.
      spec_groups: weights with a matrix, not skipped, whose spectra are
        computed together (one shape, dtype and matrix treatment).
      diverged: the weights were found NaN/Inf at a logged step (see :meth:`check_finite`).
    """

    def __init__(self, writer, weights, shapes, dtypes, *, heatmaps=True, trajectories=True,
                 max_total_cells=DEFAULT_MAX_TOTAL_CELLS, stack_key=None, spectra=False,
                 full_resolution=None):
        self.writer = writer
        self.weights = [Weight(*w) for w in weights]
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.dtypes = list(dtypes)
        self.heat, self.traj = [], []
        ws = self.weights
        if heatmaps:
            specs = [(s, grids.grid_layout(s, w.layout)) for s, w in zip(self.shapes, ws)]
            chosen = (getattr(writer, "full_resolution", None) if full_resolution is None
                      else patterns("full_resolution", full_resolution))
            full = [selected(w.name, chosen, None) if chosen else False for w in ws]
            cap = min(grids.heatmap_cap([sp for sp, f in zip(specs, full) if not f], writer.max_cells,
                                        max_total_cells), writer.max_cells)
            cells = [grids.full_resolution_cells(*sp, writer.max_cells) if f
                     else grids.heatmap_cells(*sp, cap, writer.max_cells) for sp, f in zip(specs, full)]
            self.heat = [writer.heatmap_content(w.name, s, d, w.layout, w.gates, max_cells=c)
                         for w, s, d, c in zip(ws, self.shapes, self.dtypes, cells)]
        if trajectories:
            self.traj = [writer.plan(w.name, s, d, w.unit_axis) for w, s, d in zip(ws, self.shapes, self.dtypes)]
        extra = stack_key or (lambda i: None)
        self.stacks = group(range(len(ws)), lambda i: (self.shapes[i], self.dtypes[i], extra(i)))
        self.heat_groups = [
            group(members, lambda i: repr((self.heat[i]["layout"], self.heat[i]["pool"])))
            for members in self.stacks
        ] if heatmaps else []
        self.traj_groups = [
            sub for members in self.stacks for sub in group(members, lambda i: self.traj[i][0].unit_axis)
        ] if trajectories else []
        self.descriptions = {w.name: w.description for w in ws if w.description}
        self.spec = [writer.spectrum_content(w.name, s, d, w.layout)
                     for w, s, d in zip(ws, self.shapes, self.dtypes)] if spectra else []
        self.spec_groups = [
            sub for members in self.stacks
            for sub in group([i for i in members if self.spec[i] and not self.spec[i]["skipped"]],
                             lambda i: repr((self.spec[i]["perm"], self.spec[i]["matrix"])))
        ] if spectra else []
        self.diverged = False
        self._last = {"heat": -1, "traj": -1}  # the last steps written with heatmaps, trajectory points

    @property
    def names(self):
        """The logged names, in network order."""
        return [w.name for w in self.weights]

    def kinds(self, heatmaps, trajectories, spectra):
        """``(heatmaps, trajectories, spectra)``: which of the asked kinds this plan logs (a
        kind set up off, or with nothing to log, is False), as every logger's ``log`` starts."""
        return bool(heatmaps and self.heat), bool(trajectories and self.traj), bool(spectra and self.spec)

    def write(self, step, heat_planes=(), traj_parts=(), has_previous=False, grad_sumsq=None, spectra=None):
        """Finishes one step's reductions on the host and writes them as one event.

        ``heat_planes``: per entry of ``heat_groups``, per subgroup, the planes
        ``[G, P, R, C]`` (numpy). ``traj_parts``: per entry of ``traj_groups``,
        ``(raw, sample, traces, sketch)`` numpy arrays (``trajectory.finish_points``);
        ``grad_sumsq``: per entry, ``[G]`` gradient sums of squares or None.
        ``spectra``: None (no spectra this step), or per entry of
        ``spec_groups`` the eigenvalues ``[G, slices, evals]`` (numpy); the
        skipped (too large) weights' notes are added on their first step.
        """
        heat, traj = [], []
        for subgroups, stacks in zip(self.heat_groups, heat_planes):
            for sub, planes in zip(subgroups, stacks):
                heat += [(self.heat[i], p) for i, p in zip(sub, planes)]
        grads = grad_sumsq if grad_sumsq is not None else [None] * len(self.traj_groups)
        for sub, parts, grad in zip(self.traj_groups, traj_parts, grads):
            points = trajectory.finish_points(*parts, self.traj[sub[0]][0], has_previous, grad)
            traj += [(self.traj[i][1], p) for i, p in zip(sub, points)]
        spec = []
        if spectra is not None:
            for sub, values in zip(self.spec_groups, spectra):
                spec += [(self.spec[i], v) for i, v in zip(sub, values)]
            spec += [(c, np.zeros([0], np.float32)) for c in self.spec
                     if c and c["skipped"] and self.writer.spectrum_due(c)]
        self.writer.write_reduced(step, heat, traj, self.descriptions, spec)
        if heat:
            self._last["heat"] = step
        if traj:
            self._last["traj"] = step

    def by_weight(self, rows):
        """Per weight, its values as a numpy array of its shape (None for a weight not in
        ``rows``): ``rows`` are ``(members, stacked)`` pairs, the weight indices of a group
        and their values, ``stacked[j]`` of ``members[j]`` (a logger's kept previous values)."""
        values = [None] * len(self.weights)
        for members, stacked in rows:
            for j, i in enumerate(members):
                values[i] = np.asarray(stacked[j]).reshape(self.shapes[i])
        return values

    def check_finite(self, step, heatmaps, trajectories, finite, previous):
        """Before a logged step's reductions: the heatmaps of the moment before a divergence.

        At every step logging heatmaps or trajectory points, until the weights
        first turn NaN/Inf, ``finite()`` (the logger's check of every weight's
        current value: one cheap pass, a sum) says whether they still are. The
        first time they are not, the heatmaps of the values at the last
        trajectory point (``previous()``: per weight a numpy array of its
        value then, or None without one; the values the loggers keep for the
        update norm) are written at that point's step, unless a heatmap step
        came after it; so the last finite heatmap of every tensor is there
        even between sparse heatmap steps. Returns ``(heatmaps, trajectories)``:
        whether this step logs each. At the step the weights turned non-finite
        both (where the NaN/Inf cells are, and a trajectory point there, so the
        structure view and findings date the divergence as the heatmaps do),
        else as asked.
        """
        if not self.heat or self.diverged or not (heatmaps or trajectories) or finite():
            return heatmaps, trajectories
        self.diverged = True
        last = self._last["traj"]
        if self._last["heat"] < last < step:
            values = previous()
            heat = [(self.heat[i], grids.heatmap_planes(v, self.heat[i]))
                    for i, v in enumerate(values or ()) if v is not None]
            if heat:
                self.writer.write_reduced(last, heat, description=self.descriptions)
                self._last["heat"] = last
        return True, trajectories or bool(self.traj)


def all_finite(arrays):
    """Whether every value of the numpy ``arrays`` is finite: a sum of each (NaN and
    Inf carry through it), confirmed value by value only where the sum is not
    finite (an overflowing sum of finite values).

    >>> all_finite([np.ones(3), np.array([1.0, np.inf])]), all_finite([np.full(2, 3e38, np.float32)])
    (False, True)
    """
    with np.errstate(all="ignore"):
        for a in arrays:
            a = np.asarray(a)
            if a.dtype.kind != "f" or a.dtype.itemsize < 4:
                a = a.astype(np.float32)
            if not np.isfinite(a.sum()) and not np.isfinite(a).all():
                return False
    return True


def planes_shape(content):
    """``[P, R, C]`` of the stored heatmap of ``content``.

    >>> planes_shape(grids.heatmap_content("w", (300, 300), "float32", max_cells=100))
    [2, 10, 10]
    """
    (rows, cols), (br, bc) = content["grid"], content["pool"]
    return [len(content["planes"]), -(-rows // br), -(-cols // bc)]


def raw_widths(plan):
    """Widths of the four reductions ``trajectory.finish_points`` takes, for ``plan``."""
    sample = plan.size if plan.sample is None else len(plan.sample)
    return len(trajectory.RAW_FIELDS), sample, len(plan.traces), plan.sketch_dim


def check_freq(name, value, unit="batches", auto=False):
    """``value`` as an int >= 0 or ``"epoch"`` (or ``"auto"`` when ``auto``); raises
    ``ValueError`` echoing it.

    >>> check_freq("heatmap_freq", -1)
    Traceback (most recent call last):
    ...
    ValueError: heatmap_freq must be an int >= 0 (batches; 0 = off) or 'epoch', got -1
    """
    if value == "epoch" or (auto and value == "auto"):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(
            "%s must be an int >= 0 (%s; 0 = off)%s or 'epoch', got %r"
            % (name, unit, ", 'auto'" if auto else "", value)
        )
    return int(value)


#: ``heatmap_freq="auto"`` over a run whose length is known: about this many
#: heatmap steps after the initial one (``HeatmapSchedule``).
AUTO_HEATMAPS = 8


class HeatmapSchedule:
    """When ``heatmap_freq="auto"`` logs heatmaps: a handful, whatever the run's length.

    Heatmaps are the large records (up to ``max_total_cells`` values a step),
    and weights change fastest early: the steps are spread geometrically,
    counted from ``start`` (the run's first step, whose heatmap the loggers
    write anyway). With the run's length unknown (``total`` None: PyTorch's
    ``watch``, the Writer), the half decades 1, 3, 10, 30, 100, 300, ...:
    3 more heatmaps over 10 steps, 7 over 1,000, 11 over 100,000. With
    ``total`` known (Keras: epochs x steps per epoch), ``count`` steps from
    1 to ``total``, each about ``total ** (1 / (count - 1))`` times the
    last, the last at the run's end; with ``per_epoch``, one past the first
    epoch is moved to the nearest epoch end, so it lines up with the
    epoch's metrics. The loggers add the last step of the run, and the last
    finite values when the weights turn NaN/Inf (``LogPlan.check_finite``).

    >>> [len(HeatmapSchedule().steps(n)) for n in (10, 1000, 100000)]
    [3, 7, 11]
    >>> HeatmapSchedule().steps(1000)
    [1, 3, 10, 30, 100, 300, 1000]
    >>> HeatmapSchedule(total=5000, per_epoch=500).steps()
    [1, 3, 11, 38, 130, 439, 1500, 5000]
    >>> HeatmapSchedule(start=40, total=10).steps()  # a later fit: counted from its first step
    [41, 42, 43, 44, 45, 47, 50]
    """

    def __init__(self, start=0, total=None, per_epoch=None, count=AUTO_HEATMAPS):
        self.start = int(start)
        self.total = None if total is None else int(total)
        if self.total is None:
            self._offsets = None
            return
        n = max(2, int(count))
        offsets = {round(self.total ** (k / (n - 1))) for k in range(n)} if self.total >= 1 else set()
        if per_epoch:
            per_epoch = int(per_epoch)
            offsets = {min(self.total, max(per_epoch, round(o / per_epoch) * per_epoch)) if o > per_epoch else o
                       for o in offsets}
        self._offsets = sorted(offsets)

    def steps(self, upto=None):
        """The scheduled steps up to ``upto`` steps after ``start`` (default: the run's ``total``)."""
        upto = self.total if upto is None else int(upto)
        if self._offsets is not None:
            return [self.start + o for o in self._offsets if o <= upto]
        out, k = [], 0
        while True:
            o = 10 ** (k // 2) * (3 if k % 2 else 1)
            if o > upto:
                return out
            out.append(self.start + o)
            k += 1

    def crossed(self, last, step):
        """Whether a scheduled step lies in ``(last, step]`` (a logger that sees every
        step asks ``crossed(step - 1, step)``; Keras' batch hooks may skip steps)."""
        if step <= last:
            return False
        hit = [s for s in self.steps(step - self.start) if s > last]
        return bool(hit)


#: With ``spectral_freq="auto"``, spectra take at most this fraction of the
#: training time (see ``SpectralBudget``).
SPECTRAL_BUDGET = 0.05


class SpectralBudget:
    """When ``spectral_freq="auto"`` takes spectra: at most ``fraction`` of the time
    (default ``SPECTRAL_BUDGET``).

    A spectral step is due when its last measured cost is at most ``fraction``
    of the time since the previous one ended; the first is always due (its
    cost is not known before). On a small model spectra come at every epoch
    end; where one eigendecomposition of every kernel costs a good part of
    an epoch (ResNet-50 on a CPU, a 1024-wide MLP on digits) they come every
    few epochs, and the time they take stays near ``fraction``.

    >>> now = [0.0]
    >>> budget = SpectralBudget(0.05, clock=lambda: now[0])
    >>> budget.due()
    True
    >>> budget.spent(2.0)  # a 2 s spectral step, ended at t = 0
    >>> now[0] = 30.0; budget.due()
    False
    >>> now[0] = 40.0; budget.due()
    True
    """

    def __init__(self, fraction=None, clock=time.monotonic, free=0.0):
        self.fraction = float(SPECTRAL_BUDGET if fraction is None else fraction)
        self.clock = clock
        self.free = float(free)  # a step that cost at most this many seconds is always due
        self._cost = None
        self._since = clock()

    def due(self):
        """Whether a spectral step now keeps spectra within the budget."""
        return (self._cost is None or self._cost <= self.free
                or self._cost <= self.fraction * (self.clock() - self._since))

    def spent(self, seconds):
        """Records a spectral step of ``seconds``, ending now."""
        self._cost = float(seconds)
        self._since = self.clock()


def log_step(logger, step, heatmaps, trajectories, spectra, budget=None):
    """``logger.log(step, heatmaps, trajectories, spectra)`` of a TF or torch logger.

    With a ``SpectralBudget``, spectra are logged in a call of their own, whose
    time the budget records.
    """
    if not (spectra and budget is not None):
        logger.log(step, heatmaps, trajectories, spectra)
        return
    logger.log(step, heatmaps, trajectories, False)
    start = budget.clock()
    logger.log(step, False, False, True)
    budget.spent(budget.clock() - start)


def patterns(name, value):
    """Compiled regexes of ``value`` (one regex or a list of them), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    try:
        return [re.compile(p) for p in value]
    except (TypeError, re.error) as e:
        raise ValueError("%s must be a regex or a list of regexes, got %r (%s)" % (name, value, e)) from None


def selected(name, include, exclude):
    """Whether ``name`` passes compiled ``include`` / ``exclude`` patterns (None: no filter)."""
    if include is not None and not any(p.search(name) for p in include):
        return False
    return exclude is None or not any(p.search(name) for p in exclude)


def guarded(fn, strict, who, log_dir, part=None):
    """Runs ``fn()``; True when it worked. On an exception: re-raises when
    ``strict``, else warns that ``who`` stops logging to ``log_dir`` and returns
    False (the caller then stops logging: training never dies for a picture).
    Loggers sharing an event file stop after its first failed write (a full
    disk) with that one warning: the others see ``event_file.WriteFailed``.
    With ``part`` (an optional part such as "the model graph"), the warning
    says that only this part is not logged: the caller logs the rest.
    """
    try:
        fn()
        return True
    except Exception as e:
        if strict:
            raise
        cause = e.cause if isinstance(e, WriteFailed) and e.cause is not None else e
        if getattr(cause, "nnviz_warned", False):  # the write that failed first was warned about
            return False
        try:
            cause.nnviz_warned = True
        except AttributeError:
            pass
        if getattr(cause, "nnviz_write_failed", False):  # the event file is closed: every part stops
            text = "%s: logging disabled after an error writing the event file (training continues; pass " \
                   "strict=True to raise)" % who
        elif part is None:
            text = "%s: logging to %r disabled after an error (training continues; pass strict=True to raise)" % (
                who, log_dir)
        else:
            text = "%s: %s not logged after an error (training and the rest of the logging continue)" % (who, part)
        warnings.warn("%s: %s: %s" % (text, type(cause).__name__, cause), RuntimeWarning, stacklevel=4)
        return False


def guarded_part(fn, strict, who, what):
    """:func:`guarded` for an optional part (``what``: "the model graph"): an error
    warns that this part is not logged, and the rest of the logging goes on."""
    return guarded(fn, strict, who, None, part=what)
