"""The diagnosis corpus: broken and healthy training runs, and how right ``tb-nnviz report`` is on them.

``python -m benchmarks.diagnosis [--short] [--only NAME,...] [--logdir DIR]``
trains every case of ``cases.CASES`` (each in its own process, two at a
time), checks that each really shows its pathology (or learns), reads the
findings of each run as ``tb-nnviz report`` does, and prints the recall of
the right cause on broken runs and the false-alarm rate on healthy ones.
``python -m benchmarks --only diagnosis`` puts the same tables in
BENCHMARKS.md; tests/test_diagnosis_corpus.py runs the ``short`` cases.
"""


def run(ctx):
    """``python -m benchmarks --only diagnosis``: see ``section.run``."""
    from benchmarks.diagnosis import section

    return section.run(ctx)
