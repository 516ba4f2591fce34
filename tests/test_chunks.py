"""Trajectory points and activation statistics go to a new tag every
``metadata.CHUNK_POINTS`` points (``metadata.chunk_tag``): a run that grows is
re-read one chunk at a time, and it is served the same as if it had one tag,
restarts (steps that go back) included. Real event files, TensorBoard's own
data providers (the Python loader; the Rust data server for restarts)."""

import numpy as np
import pytest

import tb_nnviz
from tb_nnviz.format import metadata
from tb_nnviz.serve import store
from tests import providers

CHUNK = 4
NAMES = ("a/kernel", "b/kernel")
TRAJ = metadata.TRAJECTORY_PLUGIN_NAME


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(metadata, "CHUNK_POINTS", CHUNK)
    # These tests reload the provider and list again at once: no listing served again.
    monkeypatch.setattr(store, "REVALIDATE_SECS", 0)


def _weights(step):
    rng = np.random.default_rng(step)
    return {n: rng.normal(size=(3, 5)) * (1 + step) for n in NAMES}


def _log(logdir, steps):
    with tb_nnviz.Writer(str(logdir)) as w:
        for step in steps:
            w.log_weights(step, _weights(step), heatmaps=False, spectra=False)


def _open_run(logdir):
    """``(writer, provider, counting provider, store)`` of a run of 10 steps, its writer still open."""
    w = tb_nnviz.Writer(str(logdir))
    for step in range(10):
        w.log_weights(step, _weights(step), heatmaps=False, spectra=False)
    w.flush()
    inner = providers.python_provider(logdir)
    provider = providers.Counting(inner)
    return w, inner, provider, store.Store(provider)


def _served(logdir, name="a/kernel", provider=None):
    s = store.Store(provider or providers.python_provider(logdir))
    entry = s.entry(providers.CTX, "", TRAJ, ".", name)
    return s.series(providers.CTX, "", TRAJ, ".", entry)


def test_points_are_written_in_chunks_and_served_as_one_series(tmp_path, small_chunks):
    steps = list(range(0, 22, 2))  # 11 points: chunks 0, 1 and 2
    _log(tmp_path / "chunked", steps)
    listed = providers.python_provider(tmp_path / "chunked").list_tensors(
        providers.CTX, experiment_id="", plugin_name=TRAJ)["."]
    assert sorted(t for t in listed if t.startswith("a/")) == [
        "a/kernel/nnviz_trajectory", "a/kernel/nnviz_trajectory/1", "a/kernel/nnviz_trajectory/2"]
    series = _served(tmp_path / "chunked")
    assert series.steps.tolist() == steps
    # The same values as one tag holds them (a chunk larger than the run).
    with pytest.MonkeyPatch.context() as m:
        m.setattr(metadata, "CHUNK_POINTS", 1000)
        _log(tmp_path / "whole", steps)
    whole = _served(tmp_path / "whole")
    np.testing.assert_array_equal(series.values, whole.values)
    # Every route's tensor list names each tensor once.
    index, problems = store.Store(providers.python_provider(tmp_path / "chunked")).index(providers.CTX, "", TRAJ)
    assert sorted(index["."]) == sorted(NAMES) and problems == []


def test_a_growing_run_rereads_only_its_last_chunk(tmp_path, small_chunks):
    logdir = tmp_path / "run"
    w, mux_provider, provider, s = _open_run(logdir)
    entries = s.index(providers.CTX, "", TRAJ, ".")[0]["."]
    s.prefetch(providers.CTX, "", TRAJ, ".", entries)
    assert len(provider.tags) == 3 * len(NAMES)  # chunks 0, 1, 2 of each
    before = s.series(providers.CTX, "", TRAJ, ".", entries["a/kernel"])
    for step in range(10, 14):  # fills chunk 2, starts chunk 3
        w.log_weights(step, _weights(step), heatmaps=False, spectra=False)
    w.close()
    mux_provider._multiplexer.Reload()
    provider.tags.clear()
    entries = s.index(providers.CTX, "", TRAJ, ".")[0]["."]
    s.prefetch(providers.CTX, "", TRAJ, ".", entries)
    assert sorted(provider.tags) == sorted(
        metadata.chunk_tag(n, TRAJ, k) for n in NAMES for k in (2, 3))  # not chunks 0 and 1
    got = s.series(providers.CTX, "", TRAJ, ".", entries["a/kernel"])
    fresh = _served(logdir)
    assert got.steps.tolist() == list(range(14))
    np.testing.assert_array_equal(got.values, fresh.values)
    # The new rows went into the kept series' room to grow: it was not copied whole.
    assert np.shares_memory(got.values, before.values) and before.steps.tolist() == list(range(10))


@pytest.mark.parametrize("loader", ["python", "rust"])
def test_a_restarted_run_is_served_as_tensorboard_shows_restarts(tmp_path, small_chunks, loader):
    logdir = tmp_path / "run"
    _log(logdir, range(0, 11))  # chunks 0-2, steps 0..10
    _log(logdir, range(5, 9))  # a restart from step 5: a new writer begins at chunk 0 again
    want = list(range(0, 9))
    if loader == "python":
        series = _served(logdir)
    else:
        with providers.rust_provider(logdir, TRAJ, 3 * len(NAMES)) as p:
            series = _served(logdir, provider=p)
    assert series.steps.tolist() == want
    # The restarted steps carry the second writer's values (its first point has no update).
    restarted = _weights(5)["a/kernel"]
    layout = _served_layout(logdir)
    norm = series.values[want.index(5), layout.fields["norm"]]
    assert norm == pytest.approx(np.linalg.norm(restarted))
    assert np.isnan(series.values[want.index(5), layout.fields["update_norm"]])


def _served_layout(logdir):
    from tb_nnviz.format import layouts
    s = store.Store(providers.python_provider(logdir))
    return layouts.point_layout(s.entry(providers.CTX, "", TRAJ, ".", "a/kernel").content)


def test_old_logs_with_one_tag_per_tensor_still_read(tmp_path):
    _log(tmp_path, range(5))  # fewer points than a chunk: the single tag of old logs
    listed = providers.python_provider(tmp_path).list_tensors(
        providers.CTX, experiment_id="", plugin_name=TRAJ)["."]
    assert sorted(listed) == [metadata.summary_tag(n, TRAJ) for n in NAMES]
    assert _served(tmp_path).steps.tolist() == list(range(5))


def test_a_bad_chunk_number_is_a_metadata_error():
    content = metadata.trajectory_metadata(
        {"name": "a", "shape": [2], "fields": ["norm"], "traces": [], "sketch_dim": 1, "chunk": 0}).plugin_data.content
    with pytest.raises(metadata.MetadataError, match="chunk"):
        metadata.parse_content(content, TRAJ)


def _sums(s):
    entries = s.index(providers.CTX, "", TRAJ, ".")[0]["."]
    return s.summed_sketch(providers.CTX, "", ".", entries, entries["a/kernel"].content["sketch_dim"])


@pytest.mark.parametrize("restart", [False, True])
def test_the_summed_sketch_grows_by_the_new_chunks_only(tmp_path, small_chunks, restart):
    logdir = tmp_path / "run"
    w, inner, provider, s = _open_run(logdir)
    steps, _ = _sums(s)
    assert steps.tolist() == list(range(10))
    if restart:  # a new writer from step 6: chunk 0 is written again
        w.close()
        w = tb_nnviz.Writer(str(logdir))
        more = range(6, 12)
    else:
        more = range(10, 13)
    for step in more:
        w.log_weights(step, _weights(step), heatmaps=False, spectra=False)
    w.close()
    inner._multiplexer.Reload()
    provider.tags.clear()
    steps, total = _sums(s)
    fresh_steps, fresh_total = _sums(store.Store(providers.python_provider(logdir)))
    assert steps.tolist() == fresh_steps.tolist() == list(range(12 if restart else 13))
    np.testing.assert_allclose(total, fresh_total, rtol=1e-12)
    if not restart:  # steps 10-12 lie in chunks 2 and 3: chunks 0 and 1 are not read again
        assert sorted(set(provider.tags)) == sorted(metadata.chunk_tag(n, TRAJ, k) for n in NAMES for k in (2, 3))


class _Capped(providers.Counting):
    """A real provider whose answers carry at most ``cap`` tags, as the Rust data server's
    gRPC answers carry at most 256 MiB: more raises the error gRPC's client raises."""

    class TooLarge(Exception):
        def code(self):
            import grpc
            return grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, inner, cap):
        super().__init__(inner)
        self.cap = cap

    def read_tensors(self, *args, **kwargs):
        if len(kwargs["run_tag_filter"].tags) > self.cap:
            self.reads += 1
            raise self.TooLarge("Received message larger than max")
        return super().read_tensors(*args, **kwargs)


def test_reads_are_split_to_fit_one_answer(tmp_path, small_chunks, monkeypatch):
    _log(tmp_path, range(11))  # 2 tensors x 3 chunks
    want = _served(tmp_path).values
    # By the listing's estimate: a few points per call.
    monkeypatch.setattr(store, "BATCH_BYTES", 1)
    provider = providers.Counting(providers.python_provider(tmp_path))
    np.testing.assert_array_equal(_served(tmp_path, provider=provider).values, want)
    assert provider.reads == 3  # one tag per call
    # And halved when the server still finds an answer too large.
    monkeypatch.setattr(store, "BATCH_BYTES", 2**30)
    provider = _Capped(providers.python_provider(tmp_path), cap=1)
    np.testing.assert_array_equal(_served(tmp_path, provider=provider).values, want)
    # A single tag too large for an answer: a clear error naming it, not a crash.
    provider = _Capped(providers.python_provider(tmp_path), cap=0)
    with pytest.raises(Exception, match="a/kernel/nnviz_trajectory.* cannot be served: .*larger than one answer"):
        _served(tmp_path, provider=provider)


def test_a_listing_is_served_again_within_one_request(tmp_path):
    from tensorboard import context

    _log(tmp_path, range(3))

    class Listing(providers.Counting):
        lists = 0

        def list_tensors(self, *args, **kwargs):
            self.lists += 1
            return self.inner.list_tensors(*args, **kwargs)

    provider = Listing(providers.python_provider(tmp_path))
    s = store.Store(provider)
    request = context.RequestContext()
    first = s.index(request, "", TRAJ, ".")
    assert s.index(request, "", TRAJ, ".") is first and provider.lists == 1
    s.index(request, "", metadata.HEATMAP_PLUGIN_NAME, ".")  # another listing
    assert provider.lists == 2
    s.index(context.RequestContext(), "", TRAJ, ".")  # another request: asked again
    assert provider.lists == 3
