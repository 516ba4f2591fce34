"""A log dir on a disk that fills up during training (docs/reliability.md).

The log dir is on a 3 MiB tmpfs mounted for the test (CI runs as root); where
mounting is not allowed, the child limits its file size with
``RLIMIT_FSIZE`` instead (``EFBIG`` rather than ``ENOSPC``), and the test
prints which it used. A real Keras ``model.fit`` (``NNVizCallback``) or PyTorch
loop (``tb_nnviz.torch.Watcher``) logs heatmaps every other step until the disk
is full, trains on, then space is freed and a new callback / watcher logs the
next training into the same run.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tb_nnviz.serve import store
from tests import providers, tbserver
from tests.test_reliability_kill import TORCH_MLP, event_files, records

CHILD = "TORCH_MLP = %r\n" % TORCH_MLP + textwrap.dedent("""
    import json, os, resource, signal, sys, warnings
    framework, logdir, mode, filler = sys.argv[1:5]
    if mode == "fsize":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 2**20, hard))
    else:
        with open(filler, "wb") as f:
            f.write(b"x" * 2**20)

    def make_room():
        if mode == "fsize":
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        else:
            os.remove(filler)

    if framework == "keras":
        import keras
        import numpy as np
        import tb_nnviz.keras
        x, y = np.random.default_rng(0).random((256, 64), dtype=np.float32), np.arange(256) % 10
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                                  keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

        def train(epochs, heatmap_freq):
            cb = tb_nnviz.keras.NNVizCallback(logdir, heatmap_freq=heatmap_freq, trajectory_freq=1, spectral_freq=0)
            history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[cb])
            cb.close()
            return len(history.history["loss"]) * 32
    else:
        exec(TORCH_MLP)
        model, opt = mlp(64)
        x, y = torch.randn(256, 64), torch.arange(256) % 10
        done = 0

        def train(epochs, heatmap_freq):
            global done
            options = dict(heatmap_freq=heatmap_freq, trajectory_freq=1, spectral_freq=0)
            watcher = tb_nnviz.torch.Watcher(model, logdir, opt, step=done,
                                             **tb_nnviz.torch.watch_options(options, "test"))
            for _ in range(epochs):
                for _ in batches(x, y):
                    done += 1
            watcher.close()
            return 32 * epochs

    out = {}
    for when, epochs, heatmap_freq in (("full", 4, 2), ("room", 1, 0)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[when] = train(epochs, heatmap_freq)
        out[when + "_warnings"] = [str(w.message) for w in caught if "after an error" in str(w.message)]
        if when == "full":
            make_room()
    print(json.dumps(out))
""")


@pytest.fixture
def small_disk(tmp_path):
    """``(directory, mode)``: a 3 MiB tmpfs ("tmpfs"), or a plain directory where the child limits file sizes."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                             capture_output=True).returncode == 0
    print("small disk:", "3 MiB tmpfs" if mounted else "RLIMIT_FSIZE of 2 MiB (mount not allowed)")
    try:
        yield disk, "tmpfs" if mounted else "fsize"
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_a_full_disk_stops_logging_with_one_warning_and_training_finishes(small_disk, framework):
    disk, mode = small_disk
    logdir = disk / "log"
    env = dict(os.environ, PYTHONPATH=tbserver.REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    proc = subprocess.run([sys.executable, "-c", CHILD, framework, str(logdir), mode, str(disk / "filler")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["full"] == 128 and out["room"] == 32  # both trainings ran every step
    (warning,) = out["full_warnings"]  # one warning, saying why
    assert ("No space left on device" if mode == "tmpfs" else "File too large") in warning, warning
    assert "cut back to its last complete record" in warning
    assert out["room_warnings"] == []  # with room again, a new callback / watcher logs without error

    run_dir = logdir / "train" if framework == "keras" else logdir
    files = event_files(run_dir)
    assert len(files) == 2
    for path in files:
        complete, tail = records(path)
        assert tail == 0 and complete, path  # nothing half-written
    # The first file stopped when the disk filled; the second holds the whole second training.
    first = max(e.step for _, _, e in records(files[0])[0])
    assert 0 < first < 128
    served = store.Store(providers.python_provider(str(logdir)))
    run = "train" if framework == "keras" else "."
    for name, _, steps, _ in served.trajectories(providers.CTX, "", run):
        steps = steps.tolist()
        assert steps[-33:] == list(range(128, 161)), name
        assert steps[:-33] == list(range(len(steps) - 33)) and len(steps) - 33 <= first + 1, name
