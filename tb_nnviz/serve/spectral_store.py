"""Spectral metrics of a log dir's tensors over steps, read through a ``store.Store``.

The ``spectral`` route and the alpha findings ask a ``SpectralReader`` for a
tensor's metrics at every logged step. Fitting is the costly part (WeightWatcher's
fit is O(n^2) in the n eigenvalues: ~0.3 s for n = 4,608), and a logged step
never changes, so each step's metrics are computed once and kept, keyed by
run, tensor, step and wall time; a growing run only fits its new steps.
"""

import collections
import threading

from tensorboard import errors

from tb_nnviz.diagnose import spectral
from tb_nnviz.format import metadata

SPECTRUM = metadata.SPECTRUM_PLUGIN_NAME
#: Steps whose metrics are kept (one entry is a dict of a few numbers).
ROWS_KEPT = 200_000


class SpectralReader:
    """Per-step spectral metrics of the tensors of a log dir."""

    def __init__(self, store, rows_kept=ROWS_KEPT):
        self._store = store
        self._rows = collections.OrderedDict()  # (eid, run, tag, step, wall time) -> metrics
        self._rows_kept = rows_kept
        self._lock = threading.Lock()

    def entries(self, ctx, eid, run):
        """``{tensor name: Entry}`` of ``run``'s spectra (empty when it has none)."""
        index, _ = self._store.index(ctx, eid, SPECTRUM, run)
        return index.get(run, {})

    def table(self, ctx, eid, run, name):
        """``(entry, series, {metric: list})`` of tensor ``name``: every logged
        step's ``spectral.metrics`` (plus ``num_evals``), aligned with ``series.steps``."""
        entry, series = self._store.lookup(ctx, eid, SPECTRUM, run, name)
        return entry, series, self.columns(eid, run, entry, series)

    def columns(self, eid, run, entry, series):
        """The metrics of every step of ``series`` as columns (see :meth:`table`)."""
        rows = [self.row(eid, run, entry, series, i) for i in range(len(series.steps))]
        keys = spectral.METRICS + ("num_evals",)
        return {k: [r[k] for r in rows] for k in keys}

    def row(self, eid, run, entry, series, i):
        """``spectral.metrics`` of the ``i``-th step of ``series``, cached."""
        key = (eid, run, entry.tag, int(series.steps[i]), float(series.wall_times[i]))
        with self._lock:
            cached = self._rows.get(key)
        if cached is not None:
            return cached
        if entry.content.get("skipped"):
            row = _empty_row()
        else:
            row = spectral.metrics(series.values[i], entry.content)
        with self._lock:
            self._rows[key] = row
            while len(self._rows) > self._rows_kept:
                self._rows.popitem(last=False)
        return row

    def latest(self, ctx, eid, run):
        """``{tensor name: metrics at its latest step, with step, skipped, index}``
        of ``run``, or NotFoundError when it has no spectra."""
        entries = self.entries(ctx, eid, run)
        if not entries:
            raise errors.NotFoundError("run %r has no nnviz spectrum data" % run)
        self._store.prefetch(ctx, eid, SPECTRUM, run, entries)
        tensors = {}
        for name, entry in sorted(entries.items()):
            series = self._store.series(ctx, eid, SPECTRUM, run, entry)
            last = len(series.steps) - 1
            row = self.row(eid, run, entry, series, last) if last >= 0 else _empty_row()
            index = entry.content.get("index")
            tensors[name] = dict(row, step=int(series.steps[last]) if last >= 0 else None,
                                 skipped=entry.content.get("skipped"),
                                 index=index if isinstance(index, int) else None)
        return tensors

    def alpha_series(self, ctx, eid, run):
        """``spectral.AlphaSeries`` of ``run``'s tensors with enough eigenvalues
        for the alpha findings (``spectral.MIN_FINDING_EVALS``); others are not read."""
        judged = {name: e for name, e in self.entries(ctx, eid, run).items() if not e.content.get("skipped")
                  and e.content["slices"] * e.content["evals"] >= spectral.MIN_FINDING_EVALS}
        self._store.prefetch(ctx, eid, SPECTRUM, run, judged)
        out = []
        for name, entry in judged.items():
            c = entry.content
            series = self._store.series(ctx, eid, SPECTRUM, run, entry)
            columns = self.columns(eid, run, entry, series)
            out.append(spectral.AlphaSeries(name, c.get("index"), series.steps, columns["alpha"],
                                            columns["num_evals"], columns["num_tail"]))
        return out


def _empty_row():
    return dict(dict.fromkeys(spectral.METRICS), num_evals=0)
