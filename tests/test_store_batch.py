"""The store reads many tensors in few data-provider calls: the first ``tags``,
``overview`` and ``findings`` answers of a run with hundreds of tensors make one
``read_tensors`` call per ``store.BATCH_TAGS`` tensors, not one per tensor (a round
trip each over the Rust data server: 27-42 s for ResNet-50's first ``tags``)."""

import math

import numpy as np
import pytest
from tensorboard import context
from tensorboard.plugins import base_plugin

import tb_nnviz
from tb_nnviz.serve import plugin, report, store
from tests import providers

TENSORS = 150
STEPS = (0, 5, 10)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(0)
    w = {"l%03d/kernel" % i: rng.normal(size=(4, 3)) for i in range(TENSORS)}
    with tb_nnviz.Writer(str(root / "run")) as writer:
        for step in STEPS:
            writer.log_weights(step, w, heatmaps=step != 5, spectra=False)
            w = {n: x + 0.01 for n, x in w.items()}
    return root


def test_first_answers_read_in_batches(logdir):
    report.read_without_tensorflow(str(logdir))  # TensorBoard's loader without importing TensorFlow (28 s)
    provider = providers.Counting(providers.python_provider(logdir))
    nnviz = plugin.NNVizPlugin(base_plugin.TBContext(data_provider=provider, logdir=str(logdir)))
    ctx = context.RequestContext()
    tags = nnviz._tags_impl(ctx, "")
    batches = math.ceil(TENSORS / store.BATCH_TAGS)
    assert provider.reads == 2 * batches, provider.reads  # trajectories, then heatmaps
    info = tags["runs"]["run"]["l149/kernel"]
    assert info["steps"] == [0, 10] and info["trajectory_steps"] == len(STEPS)
    provider.reads = 0
    nnviz._tags_impl(ctx, "")
    assert provider.reads == 0  # the steps are known now
    rows = nnviz._overview_impl(ctx, "", "run")
    assert len(rows) == TENSORS and rows[-1]["step"] == STEPS[-1]
    nnviz._findings_impl(ctx, "", "run")
    assert provider.reads <= 2 * batches, provider.reads
