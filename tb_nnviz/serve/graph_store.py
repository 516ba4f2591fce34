"""The model graph record of a run (docs/format.md, "Model graph"), read for the ``graph`` route.

A run logs its graph once when logging starts, again if the model changes:
the last record is the one served. A malformed or newer record is reported
in ``problems`` (``{"run", "tag", "message"}``, as ``Store.index`` reports bad
metadata) and never fails a request.
"""

from tensorboard.data import provider

from tb_nnviz.format import graph, metadata
from tb_nnviz.serve.evidence_store import decode_bytes

GRAPH = metadata.GRAPH_PLUGIN_NAME
#: ``downsample`` asking for every stored sample (a run holds one record, or a few).
_ALL_SAMPLES = 10**6


def read(store, data_provider, ctx, eid, run, problems):
    """``(record, step)`` of ``run``'s last graph record, ``(None, None)`` when it has none."""
    index, bad = store.index(ctx, eid, GRAPH, run)
    problems.extend(p for p in bad if p["run"] == run)
    entry = index.get(run, {}).get(metadata.GRAPH_NAME)
    if entry is None:
        return None, None
    data = data_provider.read_tensors(
        ctx, experiment_id=eid, plugin_name=GRAPH, downsample=_ALL_SAMPLES,
        run_tag_filter=provider.RunTagFilter(runs=[run], tags=[entry.tag])).get(run, {}).get(entry.tag, [])
    for datum in sorted(data, key=lambda d: d.step, reverse=True):
        try:
            return graph.decode(decode_bytes(datum.numpy, "graph record")), datum.step
        except ValueError as e:
            problems.append({"run": run, "tag": entry.tag, "message": "step %d: %s" % (datum.step, e)})
    return None, None
