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
import weakref

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
#: Estimated bytes one ``read_tensors`` call asks for at most: the Rust data server
#: answers in one gRPC message, which TensorBoard's client caps at 256 MiB.
BATCH_BYTES = 64 * 2**20
#: Heatmap samples per tag assumed when estimating a read (TensorBoard keeps
#: ``plugin.DEFAULT_HEATMAP_SAMPLES`` unless told otherwise).
_HEATMAP_SAMPLES = 100
#: Summed sketches (one per run and tensor selection) kept for ``projection``.
_SUMS_KEPT = 64
#: Seconds a listing (of a run, or of one tag) is trusted without asking the data
#: provider again. Asking costs ~40 ms per request over the Rust data server's gRPC,
#: and a long run lists thousands of tags (its chunks); a step missing from the
#: cached data of a tag is always re-checked, and TensorBoard itself reloads only
#: every 5 s by default.
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
        # index() answers of one request: {RequestContext: {key: (monotonic time, answer)}}
        self._listings = weakref.WeakKeyDictionary()
        self._listings_lock = threading.Lock()

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

        The steps are those at which every entry was logged. As a run grows, only the
        chunks holding steps after the last summed one are read (``_summed``).
        """
        names = tuple(sorted(entries))
        key = (eid, run, names)
        current = tuple(stamp(entries[name]) for name in names)
        sums = self._sums.get(key, current, lambda: self._summed(ctx, eid, run, entries, dim, self._sums.peek(key)))
        return sums.steps, sums.total

    def _summed(self, ctx, eid, run, entries, dim, old):
        """``Sums`` of ``entries``: ``old`` (the sums of the same tensors before) plus the
        steps after its last, when the chunks it read up to that step are unchanged and
        nothing was written again at or before it (a restart); else from every chunk."""
        todo = _sum_todo(entries, old)
        if todo is not None:
            new = self._sum_chunks(ctx, eid, run, entries, todo, dim, old)
            if new is not None:
                steps, total = new
                return _sums(entries, np.concatenate([old.steps, steps]), np.concatenate([old.total, total]))
        steps, total = self._sum_chunks(ctx, eid, run, entries, {n: _chunks(e) for n, e in entries.items()}, dim)
        return _sums(entries, steps, total)

    def _sum_chunks(self, ctx, eid, run, entries, todo, dim, old=None):
        """``(steps, summed sketches)`` of the chunks ``todo`` ({name: [chunk Entry]}) at
        the steps all hold (after ``old``'s last step when given; None when a point at or
        before it was written after ``old`` was summed), ``BATCH_TAGS`` tensors a read."""
        after = old.steps[-1] if old is not None else None
        common, total, names = None, None, list(entries)
        for i in range(0, len(names), BATCH_TAGS):
            part = [(todo[n][0]._replace(parts=tuple(todo[n][1:])) if todo[n] else None, entries[n])
                    for n in names[i : i + BATCH_TAGS]]
            data = self._read(ctx, eid, TRAJECTORY, run, [t for c, _ in part if c for t in _tag_entries(c)])
            for chunk, entry in part:
                sketch = layouts.point_layout(entry.content).sketch
                s = _joined(TRAJECTORY, chunk, None, 0, data, sketch) if chunk else Series.empty(dim)
                if after is not None:
                    if (s.wall_times[s.steps <= after] > old.wall).any():
                        return None
                    s = s.tail(after)
                if common is None:
                    common, total = s.steps, s.values.copy()
                    continue
                both = np.intersect1d(common, s.steps)
                with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf is NaN
                    total = total[np.searchsorted(common, both)] + s.values[np.searchsorted(s.steps, both)]
                common = both
        return common, total

    def index(self, ctx, eid, plugin_name, run=None, tags=None, runs=None):
        """``({run: {tensor name: Entry}}, errors)`` of one data plugin name (not to be modified).

        ``run`` (one) or ``runs`` (several) and ``tags`` narrow the listing. Within one
        request (one ``ctx``) a listing younger than ``REVALIDATE_SECS`` is served again:
        a request lists a run several times, and a long run's listing holds thousands of
        tags (its chunks). Each request sees the data provider's listing of its own time.
        """
        if run is not None:
            runs = [run]
        key = (eid, plugin_name, tuple(runs) if runs is not None else None, tuple(tags) if tags is not None else None)
        with self._listings_lock:
            listed = self._listings.setdefault(ctx, {}).get(key)
        if listed is not None and time.monotonic() - listed[0] < REVALIDATE_SECS:
            return listed[1]
        found = self._index(ctx, eid, plugin_name, runs, tags)
        with self._listings_lock:
            self._listings[ctx][key] = (time.monotonic(), found)
        return found

    def _index(self, ctx, eid, plugin_name, runs, tags):
        rtf = None
        if runs is not None or tags is not None:
            rtf = provider.RunTagFilter(runs=runs, tags=tags)
        listing = self._data_provider.list_tensors(
            ctx, experiment_id=eid, plugin_name=plugin_name, run_tag_filter=rtf
        )
        index, firsts, chunks, problems = {}, {}, {}, []
        for run_name, by_tag in listing.items():
            for tag, series in by_tag.items():
                try:
                    content = _parse_content(bytes(series.plugin_content), plugin_name)
                except metadata.MetadataError as e:
                    problems.append({"run": run_name, "tag": tag, "message": str(e)})
                    continue
                name = content.get("name") or metadata.tensor_name(tag, plugin_name)
                entry = Entry(tag, series, content, None)
                if content.get("chunk"):
                    chunks.setdefault(run_name, {}).setdefault(name, []).append(entry)
                else:
                    (firsts if content.get("first") else index).setdefault(run_name, {})[name] = entry
        # A tensor's first-heatmap tag is read together with its heatmap tag.
        for run_name, by_name in firsts.items():
            for name, first in by_name.items():
                entry = index.setdefault(run_name, {}).get(name)
                index[run_name][name] = first if entry is None else entry._replace(first=first)
        # A chunked tensor's later chunks are read with its first (metadata.chunk_tag).
        for run_name, by_name in chunks.items():
            for name, parts in by_name.items():
                parts.sort(key=lambda e: e.content["chunk"])
                entry = index.setdefault(run_name, {}).get(name)
                index[run_name][name] = (parts[0]._replace(parts=tuple(parts[1:])) if entry is None
                                         else entry._replace(parts=tuple(parts)))
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
        # Fast path: the tags the writers use; else scan the run (renamed tags). A
        # chunked kind's later chunks cannot be named in advance: its run is listed.
        found = None
        if plugin_name not in metadata.CHUNKED:
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
            series = self._read_series(ctx, eid, plugin_name, run, [entry])[0]
            self._cache.put(key, current, series)
        return series

    def _read_series(self, ctx, eid, plugin_name, run, entries):
        """The ``Series`` of ``entries`` in one ``read_tensors`` call. Of a chunked tensor
        only the chunks changed since its cached series are read (``Series.part_stamps``)."""
        reuse = [_reusable(self._cache.peek((eid, plugin_name, run, e.tag)), e) for e in entries]
        data = self._read(ctx, eid, plugin_name, run, [t for e, (_, k) in zip(entries, reuse)
                                                        for t in _tag_entries(e, k)])
        out = []
        for e, (old, k) in zip(entries, reuse):
            series = _joined(plugin_name, e, old, k, data)
            if series is None:  # steps went back across chunks the cache held: read whole
                series = _joined(plugin_name, e, None, 0, self._read(ctx, eid, plugin_name, run, _tag_entries(e)))
            out.append(series)
        return out

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
                for e, series in zip(part, self._read_series(ctx, eid, plugin_name, run, part)):
                    self._cache.put((eid, plugin_name, run, e.tag), stamp(e), series, keep_values)

    def _read(self, ctx, eid, plugin_name, run, tags):
        """``{tag: [TensorDatum]}``: every stored sample of ``tags`` (tag ``Entry`` s, as
        :func:`_tag_entries` gives them) in ``run``, in as few calls as fit one answer:
        groups of at most ``BATCH_BYTES`` by the listing's estimate, halved again when
        the data server still finds an answer too large."""
        out, group, size = {}, [], 0
        for t in tags:
            est = _estimated_bytes(plugin_name, t)
            if group and size + est > BATCH_BYTES:
                out.update(self._read_group(ctx, eid, plugin_name, run, group))
                group, size = [], 0
            group.append(t.tag)
            size += est
        if group:
            out.update(self._read_group(ctx, eid, plugin_name, run, group))
        return out

    def _read_group(self, ctx, eid, plugin_name, run, tags):
        try:
            return self._data_provider.read_tensors(
                ctx,
                experiment_id=eid,
                plugin_name=plugin_name,
                downsample=_ALL_SAMPLES,
                run_tag_filter=provider.RunTagFilter(runs=[run], tags=tags),
            ).get(run, {})
        except Exception as e:  # gRPC's errors have no common base here; others are raised again
            if not _too_large(e):
                raise
            if len(tags) == 1:
                raise errors.NotFoundError(
                    "run %r, tag %r cannot be served: its samples are larger than one answer of TensorBoard's data "
                    "server can carry (%s); log fewer steps of it, or start TensorBoard with "
                    "--load_fast=false" % (run, tags[0], e)) from None
            half = len(tags) // 2
            return {**self._read_group(ctx, eid, plugin_name, run, tags[:half]),
                    **self._read_group(ctx, eid, plugin_name, run, tags[half:])}

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
            steps = self.series(ctx, eid, plugin_name, run, entry).steps
        return steps


class Series:
    """The samples of one tag: sorted unique ``steps``, ``wall_times`` and stacked ``values``.

    Of a chunked tensor (``Entry.parts``), ``part_stamps`` holds the stamp of each
    chunk it was read at and ``part_rows`` how many of its rows each gave, so that
    the rows of unchanged chunks can be kept when the tensor grows (both empty when
    steps went back across chunks: then it is read whole again).
    """

    def __init__(self, steps, wall_times, values, part_stamps=(), part_rows=()):
        self.steps, self.wall_times, self.values = steps, wall_times, values
        self.part_stamps, self.part_rows = part_stamps, part_rows
        self.nbytes = steps.nbytes + wall_times.nbytes + values.nbytes
        self._buffers = None  # (steps, wall_times, values) with room past these rows (extended)

    def extended(self, n, pieces, part_stamps, part_rows):
        """A Series of this one's first ``n`` rows, then the rows of the Series ``pieces``.

        The rows go into this one's buffers when they have room, else into new ones
        with room to grow: a growing run's series gains a few rows at a time, and is
        not copied whole at every step. Rows of this one past ``n`` that are written
        again hold what they held (a chunk re-read: the same samples, then new ones).
        """
        total = n + sum(len(p.steps) for p in pieces)
        buf = self._buffers
        if buf is None or len(buf[0]) < total:
            cap = max(total + total // 2, 16)
            buf = (np.empty(cap, np.int64), np.empty(cap), np.empty((cap,) + self.values.shape[1:], self.values.dtype))
            for b, a in zip(buf, (self.steps, self.wall_times, self.values)):
                b[:n] = a[:n]
        i = n
        for p in pieces:
            m = len(p.steps)
            for b, a in zip(buf, (p.steps, p.wall_times, p.values)):
                b[i : i + m] = a
            i += m
        out = Series(buf[0][:total], buf[1][:total], buf[2][:total], part_stamps, part_rows)
        out._buffers, out.nbytes = buf, sum(b.nbytes for b in buf)
        return out

    def tail(self, after):
        """The rows of the steps after ``after``."""
        i = int(np.searchsorted(self.steps, after, side="right"))
        return Series(self.steps[i:], self.wall_times[i:], self.values[i:])

    @classmethod
    def empty(cls, width, dtype=np.float64):
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, width), dtype))

    @classmethod
    def from_data(cls, data, shape, dtype, columns=None):
        """Builds a Series from ``provider.TensorDatum`` s whose arrays have ``shape``;
        with ``columns`` (a slice), of those columns of each vector only.

        Datums of another shape (a clashing tag) are skipped.
        """
        data = [d for d in data if d.numpy.shape == shape]
        steps = np.array([d.step for d in data], np.int64)
        # Keep the last datum of each step, sorted by step.
        _, first_of_reversed = np.unique(steps[::-1], return_index=True)
        keep = len(steps) - 1 - first_of_reversed
        columns = columns or slice(None)
        kept = shape[:-1] + (len(range(shape[-1])[columns]),) if shape else shape
        values = np.empty((len(keep),) + kept, dtype)
        for row, i in enumerate(keep):
            values[row] = data[i].numpy[..., columns]
        wall_times = np.array([data[i].wall_time for i in keep], np.float64)
        return cls(steps[keep], wall_times, values)

    def index(self, step):
        i = int(np.searchsorted(self.steps, step))
        return i if i < len(self.steps) and self.steps[i] == step else None


class SeriesCache:
    """Decoded ``Series`` (a ``memo.StampedLRU`` bounded by bytes), plus a step index.

    An entry is valid while the data provider reports the same
    ``(max_step, max_wall_time)`` for its tag. Step arrays are small and kept
    for every tag so ``tags`` stays cheap after the big arrays are evicted.
    """

    def __init__(self, max_bytes):
        self._series = memo.StampedLRU(max_bytes)
        self._lock = threading.Lock()
        self._steps = {}  # key -> (stamp, array of steps)

    def get(self, key, stamp):
        return self._series.get(key, stamp)

    def peek(self, key):
        """The series kept under ``key`` whatever its stamp (or None)."""
        return self._series.peek(key)

    def steps(self, key, stamp):
        with self._lock:
            item = self._steps.get(key)
            return item[1] if item is not None and item[0] == stamp else None

    def put(self, key, stamp, series, keep_values=True):
        """Keeps ``series`` (its steps only, without ``keep_values``) as current at ``stamp``."""
        with self._lock:
            self._steps[key] = (stamp, series.steps)
        if keep_values:
            self._series.put(key, stamp, series, series.nbytes)
        else:
            self._series.discard(key)


@functools.lru_cache(maxsize=4096)
def _parse_content(content, plugin_name):
    """``metadata.parse_content``, memoised: every request lists every tag's
    metadata, which does not change. Callers must not modify the result."""
    return metadata.parse_content(content, plugin_name)


#: One listed tensor: its tag, TensorTimeSeries and parsed content, the ``Entry``
#: of its first-heatmap tag (``metadata.first_tag``) or None, and the ``Entry`` s of
#: its later chunks (``metadata.chunk_tag``) in chunk order.
Entry = collections.namedtuple("Entry", ["tag", "series", "content", "first", "parts"], defaults=[()])


def stamp(entry):
    """What must stay equal for cached data of ``entry`` to be current."""
    own = (entry.series.max_step, entry.series.max_wall_time)
    return own + (stamp(entry.first) if entry.first else ()) + tuple(stamp(p) for p in entry.parts)


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


def _chunks(entry):
    """``entry``'s chunks: itself without ``parts``, then its ``parts``."""
    return (entry._replace(parts=()),) + entry.parts


def _tag_entries(entry, skip=0):
    """One ``Entry`` per tag holding ``entry``'s samples: its own, its first-heatmap
    tag's and its later chunks' (without the first ``skip`` chunks)."""
    if entry.parts:
        return list(_chunks(entry)[skip:])
    return [entry._replace(first=None)] + ([entry.first] if entry.first else [])


def _tags_of(entry):
    """The tags of :func:`_tag_entries`."""
    return [t.tag for t in _tag_entries(entry)]


def _estimated_bytes(plugin_name, tag_entry):
    """The bytes ``read_tensors`` returns for one tag, estimated from its listing: a step
    per sample up to its last (a chunk holds at most ``metadata.CHUNK_POINTS``, a heatmap
    tag ``_HEATMAP_SAMPLES``), each its stored size plus a proto's overhead."""
    shape, dtype = _value_shape(plugin_name, tag_entry.content)
    samples = tag_entry.series.max_step + 1
    if tag_entry.content.get("chunk"):
        samples = min(samples, metadata.CHUNK_POINTS)
    if plugin_name == HEATMAP:
        samples = min(samples, _HEATMAP_SAMPLES)
    return samples * (int(np.prod(shape)) * np.dtype(dtype).itemsize + 64)


def _too_large(error):
    """Whether ``error`` is the gRPC client refusing an answer above its size limit."""
    code = getattr(error, "code", None)
    status = code() if callable(code) else None
    return getattr(status, "name", None) == "RESOURCE_EXHAUSTED" or "larger than max" in str(error)


def _reusable(old, entry):
    """``(old, k)``: the cached ``old`` series of chunked ``entry`` and how many of its
    leading chunks it holds unchanged (never all: the last is read again); ``(None, 0)``."""
    if old is None or not entry.parts:
        return None, 0
    now = [stamp(c) for c in _chunks(entry)]
    k = 0
    while k < min(len(old.part_stamps), len(now) - 1) and old.part_stamps[k] == now[k]:
        k += 1
    return (old, k) if k else (None, 0)


def _decoded(plugin_name, entry, data, columns=None):
    """The ``Series`` of ``entry`` (not chunked) from ``data`` ({tag: [TensorDatum]} holding
    its tags); of a trajectory, the ``columns`` given, else those kept (:func:`kept_columns`)."""
    merged = _merge_steps(*(restarted(data.get(tag, [])) for tag in _tags_of(entry)))
    if plugin_name == TRAJECTORY:
        columns = columns or kept_columns(entry.content)
    return Series.from_data(merged, *_value_shape(plugin_name, entry.content), columns)


def kept_columns(content):
    """The columns of a trajectory point the store keeps: the statistics and traces.
    The sketch (most of a point) is read only to be summed (``Store.summed_sketch``).

    >>> kept_columns({"fields": ["norm", "mean"], "traces": [7], "sketch_dim": 256})
    slice(0, 3, None)
    """
    return slice(0, layouts.point_layout(content).sketch.start)


#: A run's summed sketch (``Store.summed_sketch``): its ``steps`` and ``total``, the
#: stamps of each tensor's chunks it was summed from (``chunks``: {name: stamps}),
#: and the latest wall time they listed (``wall``).
Sums = collections.namedtuple("Sums", ["steps", "total", "chunks", "wall"])


def _sums(entries, steps, total):
    chunks = {name: tuple(stamp(c) for c in _chunks(e)) for name, e in entries.items()}
    wall = max(c.series.max_wall_time for e in entries.values() for c in _chunks(e))
    return Sums(steps, total, chunks, wall)


def _sum_todo(entries, old):
    """``{name: [chunk Entry]}``: the chunks of ``entries`` holding steps after the last
    step of the ``Sums`` ``old``, or None when ``old`` cannot be extended (none, or a
    chunk up to that step changed since)."""
    if old is None or not len(old.steps) or set(old.chunks) != set(entries):
        return None
    after, todo = old.steps[-1], {}
    for name, e in entries.items():
        chunks = _chunks(e)
        done = [c for c in chunks if c.series.max_step <= after]
        if tuple(stamp(c) for c in done) != old.chunks[name][: len(done)]:
            return None
        todo[name] = [c for c in chunks if c.series.max_step > after]
    return todo


def _joined(plugin_name, entry, old, k, data, columns=None):
    """The ``Series`` of ``entry``: the rows of its first ``k`` chunks from ``old``, the
    other chunks' from ``data``. None when those steps go back below the kept rows'.

    Chunks follow each other in steps unless the run restarted (a new writer in
    the run directory starts again at the first chunk, with steps that go back):
    then, as :func:`restarted` does within a tag, a sample is dropped when any
    sample written after it (by wall time) has its step or a lower one.
    """
    chunks = _chunks(entry)
    if not entry.parts:
        return _decoded(plugin_name, entry, data, columns)
    pieces = [_decoded(plugin_name, c, data, columns) for c in chunks[k:]]
    kept = sum(old.part_rows[:k]) if k else 0
    lasts = ([old.steps[kept - 1]] if kept else []) + [p.steps[-1] for p in pieces if len(p.steps)]
    firsts = [p.steps[0] for p in pieces if len(p.steps)]
    in_order = all(a < b for a, b in zip(lasts[:-1], firsts if kept else firsts[1:]))
    if not in_order and k:
        return None
    if in_order:
        rows = (tuple(old.part_rows[:k]) if k else ()) + tuple(len(p.steps) for p in pieces)
        base = old if k else Series.empty(pieces[0].values.shape[1], pieces[0].values.dtype)
        return base.extended(kept, pieces, tuple(stamp(c) for c in chunks), rows)
    steps, walls, values = (np.concatenate([getattr(p, f) for p in pieces]) for f in ("steps", "wall_times",
                                                                                       "values"))
    order = np.argsort(walls, kind="stable")  # write order
    later_min = np.minimum.accumulate(steps[order][::-1])[::-1]
    keep = order[steps[order] < np.append(later_min[1:], np.iinfo(np.int64).max)]
    keep = keep[np.argsort(steps[keep], kind="stable")]
    return Series(steps[keep], walls[keep], values[keep])


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

