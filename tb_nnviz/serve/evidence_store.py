"""The run information and activation statistics of a run, decoded for the rules and the tab.

``Store.run_info`` and ``Store.activations`` (``tb_nnviz.serve.store``) call
these: they read the ``nnviz_run`` and ``nnviz_activation`` records
(docs/format.md) through the store's data provider and return
``diagnose.evidence.RunInfo`` and ``diagnose.evidence.ActivationSeries``.
A malformed record is skipped, and why is appended to ``problems``
(``{"run", "tag", "message"}``, as ``Store.index`` reports bad metadata):
bad records never fail a request.

>>> fold([(0, {"framework": "torch", "lr": [[0, 0.1]]}), (20, {"lr": [[20, 0.01]]})])
{'framework': 'torch', 'lr': [[0, 0.1], [20, 0.01]]}
"""

import json
import math

import numpy as np
from tensorboard.data import provider

from tb_nnviz.diagnose import evidence
from tb_nnviz.format import metadata

ACTIVATION = metadata.ACTIVATION_PLUGIN_NAME
RUN = metadata.RUN_PLUGIN_NAME
#: ``downsample`` asking for every stored sample.
_ALL_SAMPLES = 10**9
#: Runs whose folded run information is kept (``memo.Memo``).
RUNS_KEPT = 256


def run_info(store, data_provider, memo, ctx, eid, run, problems=None):
    """``RunInfo`` of ``run`` (its records folded in step order), or None when it has none.

    ``memo``: a ``memo.Memo`` keeping it while the run's records are unchanged.
    """
    problems = [] if problems is None else problems
    index, bad = store.index(ctx, eid, RUN, run)
    problems.extend(p for p in bad if p["run"] == run)
    entries = index.get(run, {})
    if not entries:
        return None
    stamp = tuple(sorted((e.tag, e.series.max_step, e.series.max_wall_time) for e in entries.values()))
    info, found = memo.get((eid, run), stamp, lambda: _read_run_info(data_provider, ctx, eid, run, entries))
    problems.extend(found)
    return info


def _read_run_info(data_provider, ctx, eid, run, entries):
    """``(RunInfo or None, problems)`` of the records of ``entries``."""
    tags = sorted(e.tag for e in entries.values())
    data = data_provider.read_tensors(
        ctx, experiment_id=eid, plugin_name=RUN, downsample=_ALL_SAMPLES,
        run_tag_filter=provider.RunTagFilter(runs=[run], tags=tags)).get(run, {})
    patches, found = [], []
    for tag in tags:
        for datum in data.get(tag, []):
            try:
                patches.append((datum.step, decode_record(datum.numpy)))
            except ValueError as e:
                found.append({"run": run, "tag": tag, "message": "step %d: %s" % (datum.step, e)})
    patches.sort(key=lambda p: p[0])  # stable: records of one step keep their order
    info = evidence.RunInfo.from_json(fold(patches, found, run)) if patches else None
    return info, found


def decode_bytes(array, what):
    """The bytes of a JSON record tensor (UTF-8 bytes as uint8, or a string tensor); ``what`` names it in errors."""
    a = np.asarray(array)
    if a.dtype == np.uint8 and a.ndim == 1:
        return a.tobytes()
    if a.dtype.kind in "OSU" and a.size == 1:
        raw = a.reshape(()).item()
        return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    raise ValueError("%s is a %s array of shape %s, not UTF-8 JSON bytes" % (what, a.dtype, list(a.shape)))


def decode_record(array):
    """The JSON object of one run-information record (UTF-8 bytes as uint8, or a string tensor)."""
    raw = decode_bytes(array, "run information")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError("run information is not UTF-8 JSON: %s" % e) from None
    if not isinstance(value, dict):
        raise ValueError("run information is %s, not an object" % type(value).__name__)
    return value


def fold(patches, problems=None, run=None):
    """One JSON object from ``(step, record)`` pairs in step order: later keys replace
    earlier ones, except ``lr``, whose ``[step, lr]`` pairs are appended (malformed pairs skipped)."""
    out = {}
    for step, patch in patches:
        for key, value in patch.items():
            if key != "lr":
                out[key] = value
                continue
            pairs = [p for p in value if _lr_pair(p)] if isinstance(value, list) else []
            if problems is not None and (not isinstance(value, list) or len(pairs) != len(value)):
                problems.append({"run": run, "tag": metadata.summary_tag(metadata.RUN_INFO_NAME, RUN),
                                 "message": "step %d: malformed lr pairs skipped: %r" % (step, value)})
            out.setdefault("lr", []).extend([int(s), None if v is None else float(v)] for s, v in pairs)
    return out


def _lr_pair(p):
    return (isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) and not isinstance(p[0], bool)
            and (p[1] is None or (isinstance(p[1], (int, float)) and not isinstance(p[1], bool)
                                  and math.isfinite(p[1]))))


def activations(store, ctx, eid, run, problems=None):
    """Every layer's ``ActivationSeries`` of ``run``, in forward order (empty when it has none)."""
    problems = [] if problems is None else problems
    index, bad = store.index(ctx, eid, ACTIVATION, run)
    problems.extend(p for p in bad if p["run"] == run)
    entries = index.get(run, {})
    store.prefetch(ctx, eid, ACTIVATION, run, entries)
    out = []
    for name, entry in entries.items():
        c = entry.content
        series = store.series(ctx, eid, ACTIVATION, run, entry)
        fields = {f: series.values[:, i] for i, f in enumerate(c["fields"])}
        out.append((c["order"], name, evidence.ActivationSeries(name, c["activation"], series.steps, fields,
                                                                c["order"])))
    out.sort(key=lambda item: (item[0], item[1]))
    return [series for _, _, series in out]
