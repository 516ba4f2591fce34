"""TensorBoard's own data providers over a log dir, for tests.

``python_provider`` is the Python loader (``--load_fast=false``);
``rust_provider`` starts the Rust data server (``--load_fast=true``).
"""

import contextlib
import time

from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.data import server_ingester
from tensorboard.util import grpc_util

CTX = context.RequestContext()


def evidence(logdir, run="."):
    """``(RunInfo, [ActivationSeries], problems)`` of ``run`` through the plugin's store."""
    from tb_nnviz.serve import store

    s = store.Store(python_provider(logdir))
    problems = []
    return s.run_info(CTX, "", run, problems), s.activations(CTX, "", run, problems), problems


def python_provider(logdir, samples_per_plugin=None):
    """A loaded ``MultiplexerDataProvider`` (keeps all tensors unless told otherwise)."""
    guidance = {"tensors": 0}
    guidance.update(samples_per_plugin or {})
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance=guidance)
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return data_provider.MultiplexerDataProvider(mux, str(logdir))


@contextlib.contextmanager
def rust_provider(logdir, plugin_name, expected_tags, samples_per_plugin=None, timeout=60):
    """The Rust data server's provider, once it lists ``expected_tags`` tags of ``plugin_name``."""
    ingester = server_ingester.SubprocessServerDataIngester(
        server_ingester.get_server_binary(),
        str(logdir),
        reload_interval=1,
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin=samples_per_plugin or {},
    )
    ingester.start()
    provider = ingester.data_provider
    try:
        deadline = time.monotonic() + timeout
        while True:
            listing = provider.list_tensors(CTX, experiment_id="", plugin_name=plugin_name)
            if sum(len(tags) for tags in listing.values()) >= expected_tags:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("data server listed %r after %ss" % (listing, timeout))
            time.sleep(0.2)
        yield provider
    finally:
        ingester._stdin_handle.close()  # the server exits when its stdin closes


def read_all(provider, plugin_name):
    """``{run: {tag: [TensorDatum, ...]}}`` of every stored step."""
    return provider.read_tensors(
        CTX, experiment_id="", plugin_name=plugin_name, downsample=10**6
    )


class Counting:
    """A data provider that counts its reads of values (``read_tensors``, ``read_scalars``)."""

    def __init__(self, inner):
        self.inner, self.reads, self.tags = inner, 0, []

    def read_tensors(self, *args, **kwargs):
        self.reads += 1
        rtf = kwargs.get("run_tag_filter")
        self.tags.extend(rtf.tags if rtf is not None and rtf.tags is not None else ["<all>"])
        return self.inner.read_tensors(*args, **kwargs)

    def read_scalars(self, *args, **kwargs):
        self.reads += 1
        return self.inner.read_scalars(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)
