"""Reading tb_nnviz data through TensorBoard's data provider, with caches.

The plugin's routes ask a ``Store`` for tensors by run and name; it lists tags
through ``DataProvider.list_tensors``, reads every stored sample of one tag
through ``read_tensors`` and keeps the decoded ``Series`` in a ``SeriesCache``
(bounded by bytes) while the provider reports the tag unchanged. It works the same over the Python loader and the
Rust data server.

A tag's samples are read once per change the data provider reports: requests
that need the same run's data at once wait for one read (``TensorBoard`` serves
requests on several threads) instead of each reading it again.
"""

import bisect
import collections
import functools
import threading
import time

import numpy as np
from tensorboard import errors
from tensorboard.data import provider

from tb_nnviz.format import layouts, metadata
from tb_nnviz.serve import evidence_store, memo

HEATMAP = metadata.HEATMAP_PLUGIN_NAME
TRAJECTORY = metadata.TRAJECTORY_PLUGIN_NAME
SPECTRUM = metadata.SPECTRUM_PLUGIN_NAME
ACTIVATION = metadata.ACTIVATION_PLUGIN_NAME
_KINDS = {HEATMAP: "heatmap", TRAJECTORY: "trajectory", SPECTRUM: "spectrum", ACTIVATION: "activation"}

#: Bound on the bytes of decoded series kept between requests.
CACHE_BYTES = 256 * 2**20
#: ``downsample`` asking a data provider for every stored sample (both the
#: Python and the Rust provider return all when it exceeds the count).
_ALL_SAMPLES = 10**9
#: Tags read by one ``read_tensors`` call when many series are read at once
#: (``Store.prefetch``): few round trips, and a bounded batch of decoded arrays.
BATCH_TAGS = 64
#: Summed sketches (one per run and tensor selection) kept for ``projection``.
_SUMS_KEPT = 64
#: Seconds the listing of one tag is trusted without asking the data provider
#: again. Asking costs ~40 ms per request over the Rust data server's gRPC; a
#: step missing from the cached data is always re-checked, and TensorBoard
#: itself reloads only every 5 s by default.
REVALIDATE_SECS = 2.0


class Store:
    """Tensors of a log dir by run and name, read through ``data_provider``."""

    def __init__(self, data_provider, cache_bytes=CACHE_BYTES):
        self._data_provider = data_provider
        self._cache = SeriesCache(cache_bytes)
        self._recent = {}  # (eid, plugin, run, name) -> (monotonic time, Entry)
        self._sums = memo.Memo(_SUMS_KEPT)  # (eid, run, names) -> (steps, summed sketch)
        self._run_info = memo.Memo(evidence_store.RUNS_KEPT)
        self._reading = memo.Striped()  # one read at a time of a run's tags of one plugin

    def run_info(self, ctx, eid, run, problems=None):
        """``diagnose.evidence.RunInfo`` of ``run`` (framework, structure, optimizer, lr
        over steps, input statistics), or None when the run has no run information.

        Malformed records are skipped; why is appended to the list ``problems``
        (``{"run", "tag", "message"}``) when given.
        """
        return evidence_store.run_info(self, self._data_provider, self._run_info, ctx, eid, run, problems)

    def activations(self, ctx, eid, run, problems=None):
        """``[diagnose.evidence.ActivationSeries]`` of ``run`` in forward order (the
        model's input first, kind ``input``); empty when it has none. Malformed
        records are skipped as in :meth:`run_info`."""
        return evidence_store.activations(self, ctx, eid, run, problems)

    def summed_sketch(self, ctx, eid, run, entries, dim):
        """``(steps, sum of the entries' sketches at those steps)``, cached while unchanged.

        The steps are those at which every entry was logged.
        """
        current = tuple(stamp(entries[name]) for name in sorted(entries))
        return self._sums.get((eid, run, tuple(sorted(entries))), current,
                              lambda: self._summed(ctx, eid, run, entries, dim))

    def _summed(self, ctx, eid, run, entries, dim):
        self.prefetch(ctx, eid, TRAJECTORY, run, entries)
        series = [(e, self.series(ctx, eid, TRAJECTORY, run, e)) for e in entries.values()]
        common = series[0][1].steps
        for _, s in series[1:]:
            common = np.intersect1d(common, s.steps)
        total = np.zeros((len(common), dim))
        for e, s in series:
            sketch = layouts.point_layout(e.content).sketch
            rows = np.searchsorted(s.steps, common)
            with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf is NaN
                total += s.values[rows, sketch]
        return common, total

    def index(self, ctx, eid, plugin_name, run=None, tags=None, runs=None):
        """``({run: {tensor name: Entry}}, errors)`` of one data plugin name.

        ``run`` (one) or ``runs`` (several) and ``tags`` narrow the listing.
        """
        if run is not None:
            runs = [run]
        rtf = None
        if runs is not None or tags is not None:
            rtf = provider.RunTagFilter(runs=runs, tags=tags)
        listing = self._data_provider.list_tensors(
            ctx, experiment_id=eid, plugin_name=plugin_name, run_tag_filter=rtf
        )
        index, firsts, problems = {}, {}, []
        for run_name, by_tag in listing.items():
            for tag, series in by_tag.items():
                try:
                    content = _parse_content(bytes(series.plugin_content), plugin_name)
                except metadata.MetadataError as e:
                    problems.append({"run": run_name, "tag": tag, "message": str(e)})
                    continue
                name = content.get("name") or metadata.tensor_name(tag, plugin_name)
                into = firsts if content.get("first") else index
                into.setdefault(run_name, {})[name] = Entry(tag, series, content, None)
        # A tensor's first-heatmap tag is read together with its heatmap tag.
        for run_name, by_name in firsts.items():
            for name, first in by_name.items():
                entry = index.setdefault(run_name, {}).get(name)
                index[run_name][name] = first if entry is None else entry._replace(first=first)
        return index, problems

    def listing_stamp(self, ctx, eid, plugin_name, run):
        """What ``run``'s tags of ``plugin_name`` are listed with (``stamps``, and
        the tags whose metadata failed): equal while nothing was logged there."""
        index, problems = self.index(ctx, eid, plugin_name, run)
        return stamps(index.get(run, {})), tuple(sorted((p["tag"], p["message"]) for p in problems))

    def lookup(self, ctx, eid, plugin_name, run, name, step=None):
        """``(Entry, Series)`` of tensor ``name``, re-listed only when stale.

        A listing younger than ``REVALIDATE_SECS`` is reused when its cached
        series is still held and has ``step`` (if given).
        """
        key = (eid, plugin_name, run, name)
        recent = self._recent.get(key)
        if recent is not None and time.monotonic() - recent[0] < REVALIDATE_SECS:
            entry = recent[1]
            series = self._cache.get((eid, plugin_name, run, entry.tag), stamp(entry))
            if series is not None and (step is None or series.index(step) is not None):
                return entry, series
        entry = self.entry(ctx, eid, plugin_name, run, name)
        series = self.series(ctx, eid, plugin_name, run, entry)
        self._recent[key] = (time.monotonic(), entry)
        return entry, series

    def entry(self, ctx, eid, plugin_name, run, name):
        """The ``Entry`` of tensor ``name`` in ``run``, or NotFoundError."""
        # Fast path: the tag the writers use; else scan the run (renamed tags).
        tags = [metadata.summary_tag(name, plugin_name)]
        if plugin_name == HEATMAP:
            tags.append(metadata.first_tag(name))
        index, _ = self.index(ctx, eid, plugin_name, run, tags)
        found = index.get(run, {}).get(name)
        if found is None:
            index, problems = self.index(ctx, eid, plugin_name, run)
            found = index.get(run, {}).get(name)
            if found is None:
                kind = _KINDS[plugin_name]
                if run not in index and not any(p["run"] == run for p in problems):
                    raise errors.NotFoundError("no run %r with nnviz %s data" % (run, kind))
                detail = "".join("; %s: %s" % (p["tag"], p["message"]) for p in problems)
                raise errors.NotFoundError(
                    "run %r has no %s for tensor %r%s" % (run, kind, name, detail)
                )
        return found

    def series(self, ctx, eid, plugin_name, run, entry):
        """All stored samples of ``entry`` as a ``Series``, cached while unchanged."""
        key = (eid, plugin_name, run, entry.tag)
        current = stamp(entry)
        cached = self._cache.get(key, current)
        if cached is not None:
            return cached
        with self._reading.lock((eid, plugin_name, run)):
            cached = self._cache.get(key, current)  # read meanwhile by another request
            if cached is not None:
                return cached
            series = _decoded(plugin_name, entry, self._read(ctx, eid, plugin_name, run, _tags_of(entry)))
            self._cache.put(key, current, series)
        return series

    def prefetch(self, ctx, eid, plugin_name, run, entries, steps_only=False, keep_values=True):
        """Reads the series of ``entries`` ({name: Entry} of ``run``) that are not cached
        (with ``steps_only``: whose steps are not known), ``BATCH_TAGS`` tags per
        ``read_tensors`` call instead of one call each. Without ``keep_values`` only
        their steps are kept (the ``tags`` route lists heatmap steps; the heatmaps'
        values would only push other runs' trajectories out of the cache).

        One call per tag costs a round trip each over the Rust data server's gRPC: the
        first ``tags`` of a ResNet-50 and two ResNet-18 runs (444 tensors) took 27-42 s
        that way (BENCHMARKS.md, 'first answer').
        """
        def missing(e):
            key = (eid, plugin_name, run, e.tag)
            return (self._cache.steps(key, stamp(e)) if steps_only else self._cache.get(key, stamp(e))) is None

        if not any(missing(e) for e in entries.values()):
            return
        with self._reading.lock((eid, plugin_name, run)):
            todo = [e for e in entries.values() if missing(e)]  # not read meanwhile by another request
            for i in range(0, len(todo), BATCH_TAGS):
                part = todo[i : i + BATCH_TAGS]
                data = self._read(ctx, eid, plugin_name, run, [t for e in part for t in _tags_of(e)])
                for e in part:
                    self._cache.put((eid, plugin_name, run, e.tag), stamp(e), _decoded(plugin_name, e, data),
                                    keep_values)

    def _read(self, ctx, eid, plugin_name, run, tags):
        """``{tag: [TensorDatum]}``: every stored sample of ``tags`` in ``run``, in one call."""
        return self._data_provider.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=plugin_name,
            downsample=_ALL_SAMPLES,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=tags),
        ).get(run, {})

    def trajectories(self, ctx, eid, run):
        """``[(name, Entry, steps, {field: column})]``: every tensor of ``run``
        with trajectory points, in listing order, its statistics by field name.

        NotFoundError when the run has none (naming tags whose metadata failed).
        """
        index, problems = self.index(ctx, eid, TRAJECTORY, run)
        entries = index.get(run)
        if not entries:
            detail = "".join("; %s: %s" % (p["tag"], p["message"]) for p in problems if p["run"] == run)
            raise errors.NotFoundError("no run %r with nnviz trajectory data%s" % (run, detail))
        self.prefetch(ctx, eid, TRAJECTORY, run, entries)
        out = []
        for name, entry in entries.items():
            series = self.series(ctx, eid, TRAJECTORY, run, entry)
            fields = layouts.point_layout(entry.content).fields
            out.append((name, entry, series.steps, {f: series.values[:, i] for f, i in fields.items()}))
        return out

    def steps(self, ctx, eid, plugin_name, run, entry):
        key = (eid, plugin_name, run, entry.tag)
        steps = self._cache.steps(key, stamp(entry))
        if steps is None:
            steps = self.series(ctx, eid, plugin_name, run, entry).steps.tolist()
        return steps


class Series:
    """The samples of one tag: sorted unique ``steps``, ``wall_times`` and stacked ``values``."""

    def __init__(self, steps, wall_times, values):
        self.steps, self.wall_times, self.values = steps, wall_times, values
        self.nbytes = steps.nbytes + wall_times.nbytes + values.nbytes

    @classmethod
    def from_data(cls, data, shape, dtype):
        """Builds a Series from ``provider.TensorDatum`` s whose arrays have ``shape``.

        Datums of another shape (a clashing tag) are skipped.
        """
        data = [d for d in data if d.numpy.shape == shape]
        steps = np.array([d.step for d in data], np.int64)
        # Keep the last datum of each step, sorted by step.
        _, first_of_reversed = np.unique(steps[::-1], return_index=True)
        keep = len(steps) - 1 - first_of_reversed
        values = np.empty((len(keep),) + shape, dtype)
        for row, i in enumerate(keep):
            values[row] = data[i].numpy
        wall_times = np.array([data[i].wall_time for i in keep], np.float64)
        return cls(steps[keep], wall_times, values)

    def index(self, step):
        i = int(np.searchsorted(self.steps, step))
        return i if i < len(self.steps) and self.steps[i] == step else None


class SeriesCache:
    """Thread-safe LRU of decoded ``Series`` bounded by bytes, plus a step index.

    An entry is valid while the data provider reports the same
    ``(max_step, max_wall_time)`` for its tag. Step lists are tiny and kept
    for every tag so ``tags`` stays cheap after the big arrays are evicted.
    """

    def __init__(self, max_bytes):
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items = collections.OrderedDict()  # key -> (stamp, series)
        self._bytes = 0
        self._steps = {}  # key -> (stamp, list of steps)

    def get(self, key, stamp):
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != stamp:
                return None
            self._items.move_to_end(key)
            return item[1]

    def steps(self, key, stamp):
        with self._lock:
            item = self._steps.get(key)
            return item[1] if item is not None and item[0] == stamp else None

    def put(self, key, stamp, series, keep_values=True):
        """Keeps ``series`` (its steps only, without ``keep_values``) as current at ``stamp``."""
        with self._lock:
            self._steps[key] = (stamp, series.steps.tolist())
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1].nbytes
            if series.nbytes > self._max_bytes or not keep_values:
                return
            self._items[key] = (stamp, series)
            self._bytes += series.nbytes
            while self._bytes > self._max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes


@functools.lru_cache(maxsize=4096)
def _parse_content(content, plugin_name):
    """``metadata.parse_content``, memoised: every request lists every tag's
    metadata, which does not change. Callers must not modify the result."""
    return metadata.parse_content(content, plugin_name)


#: One listed tensor: its tag, TensorTimeSeries and parsed content, and the
#: ``Entry`` of its first-heatmap tag (``metadata.first_tag``) or None.
Entry = collections.namedtuple("Entry", ["tag", "series", "content", "first"])


def stamp(entry):
    """What must stay equal for cached data of ``entry`` to be current."""
    own = (entry.series.max_step, entry.series.max_wall_time)
    return own + (stamp(entry.first) if entry.first else ())


def stamps(entries):
    """``stamp`` of every Entry of ``entries`` ({name: Entry}), by name: what an answer
    computed from all of them depends on.

    >>> import types
    >>> e = Entry("w/kernel/nnviz_trajectory", types.SimpleNamespace(max_step=5, max_wall_time=1.5), {}, None)
    >>> stamps({"w/kernel": e})
    (('w/kernel', 'w/kernel/nnviz_trajectory', (5, 1.5)),)
    """
    return tuple(sorted((name, e.tag, stamp(e)) for name, e in entries.items()))


def restarted(data):
    """``data`` (a tag's samples in the order they were written) as TensorBoard
    shows a run that restarted: a sample whose step is not above every earlier
    one (a restart from a checkpoint in the same run directory) drops the
    earlier samples at that step and after.

    The Rust data server (``--load_fast``, TensorBoard's default) does this
    itself ("preemption" in its reservoirs); the Python loader purges only on a
    TensorFlow 1 ``SessionLog.START`` and would otherwise keep the old run's
    later steps beside the new ones. Both loaders list a tag's samples in the
    order they were read, files in name (time) order.

    >>> import collections
    >>> D = collections.namedtuple("D", "step")
    >>> [d.step for d in restarted([D(0), D(1), D(2), D(3), D(1), D(2)])]
    [0, 1, 2]
    """
    steps = np.fromiter((d.step for d in data), np.int64, len(data))
    if (steps[1:] > steps[:-1]).all():
        return list(data)  # the usual case: no restart
    out = []
    for d in data:
        if out and d.step <= out[-1].step:
            out = out[:bisect.bisect_left([o.step for o in out], d.step)]
        out.append(d)
    return out


def _tags_of(entry):
    """The tags holding ``entry``'s samples: its own and its first-heatmap tag's."""
    return [entry.tag] + ([entry.first.tag] if entry.first else [])


def _decoded(plugin_name, entry, data):
    """The ``Series`` of ``entry`` from ``data`` ({tag: [TensorDatum]} holding its tags)."""
    merged = _merge_steps(*(restarted(data.get(tag, [])) for tag in _tags_of(entry)))
    return Series.from_data(merged, *_value_shape(plugin_name, entry.content))


def _merge_steps(data, first=()):
    """Sampled data plus the first-heatmap data, by step; a step in both is taken once."""
    if not first:
        return data
    steps = {d.step for d in data}
    return sorted(list(data) + [d for d in first if d.step not in steps], key=lambda d: d.step)


def _value_shape(plugin_name, content):
    """``(shape, dtype)`` of one stored sample of a tag with metadata ``content``."""
    if plugin_name == HEATMAP:
        (rows, cols), (br, bc) = content["grid"], content["pool"]
        return (len(content["planes"]), -(-rows // br), -(-cols // bc)), np.float32
    if plugin_name == SPECTRUM:
        return tuple(layouts.stored_shape(content)), np.float32
    if plugin_name == ACTIVATION:
        return (len(content["fields"]),), np.float64
    return (layouts.point_layout(content).length,), np.float64

