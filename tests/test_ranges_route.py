"""The ``ranges`` route (exact colour ranges over all steps) and the ``index`` field of
``tags``, through TensorBoard's own WSGI app on real event files (see test_plugin.py)."""

import numpy as np
import pytest

import tb_nnviz
from tests.helpers import PREFIX, get_heatmap, get_json, make_client


@pytest.fixture(scope="module")
def client(logdir):
    return make_client(logdir)


def test_ranges_equal_the_max_over_every_served_heatmap(client):
    steps = get_json(client, "/tags")["runs"]["a"]["dense/kernel"]["steps"]
    got = get_json(client, "/ranges", run="a", tag="dense/kernel")
    assert got["steps"] == len(steps)
    for diff in ("none", "prev", "first"):
        shown = [s for s in steps if not (diff == "prev" and s == steps[0])]
        highs = []
        for s in shown:
            h = get_heatmap(client, run="a", tag="dense/kernel", step=s, diff=diff)[0]
            if h["min"] is not None:
                highs.append(max(abs(h["min"]), abs(h["max"])))
        assert got[diff] == pytest.approx(max(highs), rel=1e-7), diff


def test_ranges_of_unknown_tensors_are_404_and_missing_args_400(client):
    assert client.get(PREFIX + "/ranges", query_string={"run": "a", "tag": "nope"}).status_code == 404
    assert client.get(PREFIX + "/ranges", query_string={"run": "a"}).status_code == 400


def test_tags_carry_the_network_order_index_when_the_writer_records_it(tmp_path):
    with tb_nnviz.Writer(tmp_path / "r") as w:
        w.log_weights(0, {"z/kernel": np.ones((2, 2), np.float32), "a/kernel": np.ones((2, 2), np.float32)})
    tags = get_json(make_client(tmp_path), "/tags")["runs"]["r"]
    # The order the weights were logged in, not the alphabetical one.
    assert {name: info["index"] for name, info in tags.items()} == {"z/kernel": 0, "a/kernel": 1}
