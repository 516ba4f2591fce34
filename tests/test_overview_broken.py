"""The overview route reads a broken run as broken: a tensor whose weights turned
NaN/Inf keeps its last finite update ratio per step, and says from which step its
weights are not finite (``nonfinite_from``), as the tab shows it."""

import numpy as np
import pytest

import tb_nnviz
from tests.helpers import get_json, make_client

STEPS = (0, 10, 20, 30)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("broken")
    rng = np.random.default_rng(0)
    w = {"a/kernel": rng.normal(size=(8, 4)), "b/kernel": rng.normal(size=(8, 4)),
         "c/kernel": rng.normal(size=(8, 4))}
    with tb_nnviz.Writer(str(logdir / "run")) as writer:
        for step in STEPS:
            w = {n: x + 1e-2 * rng.normal(size=x.shape) for n, x in w.items()}
            logged = dict(w)
            if step >= 20:
                logged["a/kernel"] = np.full_like(w["a/kernel"], np.nan)  # NaN for good from 20
            if step == 10:
                logged["c/kernel"] = np.where(np.eye(8, 4) > 0, np.inf, w["c/kernel"])  # and back
            writer.log_weights(step, logged, heatmaps=False, spectra=False)
    client = make_client(logdir)
    traj = {n: get_json(client, "/trajectory", run="run", tag=n) for n in w}
    return {r["name"]: r for r in get_json(client, "/overview", run="run")}, traj


def test_nan_tensor_keeps_its_last_finite_ratio(rows):
    by_name, traj = rows
    a = by_name["a/kernel"]
    assert a["update_ratio_per_step"] is None and a["norm"] is None
    assert a["nonfinite_from"] == 20
    assert a["last_finite_step"] == 10
    ratio_at_10 = traj["a/kernel"]["update_ratio_per_step"][STEPS.index(10)]
    assert a["last_finite_ratio_per_step"] == pytest.approx(ratio_at_10) and ratio_at_10 > 0


def test_finite_tensors_have_no_nan_step(rows):
    by_name, _ = rows
    for name in ("b/kernel", "c/kernel"):  # c held Inf at step 10 only: not broken now
        r = by_name[name]
        assert r["nonfinite_from"] is None, r
        assert r["last_finite_step"] == 30
        assert r["last_finite_ratio_per_step"] == pytest.approx(r["update_ratio_per_step"])
