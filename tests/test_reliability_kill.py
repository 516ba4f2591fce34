"""Training killed with SIGKILL mid-write, then restarted in the same run (docs/reliability.md).

Real processes: a Keras ``model.fit`` with ``NNVizCallback`` and a PyTorch loop
with ``tb_nnviz.torch.Watcher``, logging a trajectory point every step and a
heatmap every third, are killed at random moments (seeded) once logging is
under way. Each child prints every step its logger returned from, so the test
knows what was written. Some trials also cut the file inside its last record,
as a kill during the ``write`` of a record leaves it. Then one killed run of
each framework is restarted from an earlier step (a checkpoint) into the same
directory, and everything is read back by a real ``tensorboard --load_fast=true``
(the Rust data server) and by the Python loader that ``tb-nnviz report`` uses.

The expected steps come from this file's own reading of the records: every
complete record is kept, a torn last one is dropped, and after the restart a
tag shows the old run's steps below the restart step and the new run's steps
(what TensorBoard's data server shows for restarted runs).
"""

import json
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from tensorboard.compat.proto import event_pb2

from tb_nnviz.format import metadata
from tb_nnviz.serve import store
from tests import providers, tbserver

TRAJECTORY = metadata.TRAJECTORY_PLUGIN_NAME

KERAS = textwrap.dedent("""
    import sys
    import keras
    import numpy as np
    import tb_nnviz.keras

    logdir, start, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(start)
    x, y = rng.random((256, 32), dtype=np.float32), rng.integers(0, 10, 256)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if start:  # resumed from a checkpoint taken at step `start`
        model.optimizer.build(model.trainable_variables)
        model.optimizer.iterations.assign(start)
    cb = tb_nnviz.keras.NNVizCallback(logdir, heatmap_freq=3, trajectory_freq=1, spectral_freq=0, strict=True)

    class Say(keras.callbacks.Callback):  # runs after cb: the step's records are written
        def on_train_batch_end(self, batch, logs=None):
            print(cb._last["traj"], flush=True)

    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[cb, Say()])
    cb.close()
    print("done", flush=True)
""")

#: A child's PyTorch MLP on ``inputs`` features, its optimizer and ``batches(x, y)``:
#: one epoch of training steps in batches of 8, yielding after each optimizer step.
TORCH_MLP = textwrap.dedent("""
    import torch
    import tb_nnviz.torch

    def mlp(inputs):
        model = torch.nn.Sequential(torch.nn.Linear(inputs, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                                    torch.nn.ReLU(), torch.nn.Linear(128, 10))
        return model, torch.optim.SGD(model.parameters(), 0.01)

    def batches(x, y):
        for i in range(0, len(x), 8):
            loss = torch.nn.functional.cross_entropy(model(x[i:i + 8]), y[i:i + 8])
            opt.zero_grad()
            loss.backward()
            opt.step()
            yield
""")

TORCH = TORCH_MLP + textwrap.dedent("""
    import sys

    logdir, start, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(start)
    model, opt = mlp(32)
    options = tb_nnviz.torch.watch_options(dict(heatmap_freq=3, trajectory_freq=1, spectral_freq=0, strict=True),
                                           "test")
    watcher = tb_nnviz.torch.Watcher(model, logdir, opt, step=start, **options)
    x, y = torch.randn(256, 32), torch.randint(0, 10, (256,))
    for _ in range(epochs):
        for _ in batches(x, y):
            print(watcher.logged_steps[-1], flush=True)
    watcher.close()
    print("done", flush=True)
""")

CHILDREN = {"keras": (KERAS, "train"), "torch": (TORCH, "")}
#: Kill trials per framework in CI (each a process; a Keras one imports TensorFlow).
TRIALS = {"keras": 2, "torch": 3}


def start_child(framework, logdir, start=0, epochs=1000):
    env = dict(os.environ, PYTHONPATH=tbserver.REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    return subprocess.Popen([sys.executable, "-c", CHILDREN[framework][0], str(logdir), str(start), str(epochs)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_while_logging(framework, logdir, rng):
    """Kills a child with SIGKILL a random 0-0.6 s after its 5th logged step; the steps it logged."""
    proc = start_child(framework, logdir)
    printed, started = [], threading.Event()

    def read():
        for line in proc.stdout:
            printed.append(line.strip())
            if len(printed) >= 5:
                started.set()

    reader = threading.Thread(target=read)
    reader.start()
    if not started.wait(600):
        proc.kill()
        pytest.fail("%s child logged nothing: %s" % (framework, proc.stderr.read()[-3000:]))
    time.sleep(rng.uniform(0, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    reader.join(30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return [int(s) for s in printed if s != "done"]


def records(path):
    """``(complete records as (offset, end, Event), torn tail bytes)`` of one event file."""
    data = open(path, "rb").read()
    out, at = [], 0
    while at + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[at:at + 8])
        end = at + 12 + n + 4
        if end > len(data):
            break
        out.append((at, end, event_pb2.Event.FromString(data[at + 12:at + 12 + n])))
        at = end
    return out, len(data) - at


def event_files(run_dir):
    return sorted(os.path.join(run_dir, f) for f in os.listdir(run_dir) if f.startswith("events.out.tfevents"))


def trajectory_steps(run_dir):
    """``{tensor name: [steps]}`` of the run's complete records, files in name order, restarts applied."""
    steps = {}
    for path in event_files(run_dir):
        for _, _, event in records(path)[0]:
            for value in event.summary.value:
                if value.tag == metadata.summary_tag(metadata.tensor_name(value.tag, TRAJECTORY), TRAJECTORY):
                    seen = steps.setdefault(metadata.tensor_name(value.tag, TRAJECTORY), [])
                    while seen and seen[-1] >= event.step:  # a restart: TensorBoard's preemption
                        seen.pop()
                    seen.append(event.step)
    return steps


def killed_runs(logdir, trials, seed=26):
    """Writes ``trials[framework]`` killed runs per framework into ``logdir``, the first of each
    restarted from an earlier step; ``({run: {tensor: expected steps}}, {"natural": n, "cut": n})``:
    torn last records the kills left, and those cut by hand."""
    rng = random.Random(seed)
    expected, torn = {}, {"natural": 0, "cut": 0}
    for framework, count in trials.items():
        sub = CHILDREN[framework][1]
        for trial in range(count):
            run = "%s%d" % (framework, trial)
            run_dir = os.path.join(logdir, run, sub)
            printed = kill_while_logging(framework, os.path.join(logdir, run), rng)
            (path,) = event_files(run_dir)
            complete, tail = records(path)
            torn["natural"] += tail > 0
            # Every step the logger returned from is in a complete record (writes are unbuffered).
            written = {e.step for _, _, e in complete if e.summary.value}
            assert set(printed) <= written, (run, sorted(set(printed) - written))
            if trial % 2 == 1 and not tail:  # as if killed inside write(2): cut the last record
                at, end, _ = complete[-1]
                os.truncate(path, rng.randrange(at + 1, end))
                torn["cut"] += 1
            expected[os.path.join(run, sub) if sub else run] = run_dir
        # A restart from a checkpoint taken before the kill: steps go back, in the same run.
        run_dir = os.path.join(logdir, "%s0" % framework, sub)
        old = trajectory_steps(run_dir)
        back = max(max(s) for s in old.values()) // 2 or 1
        proc = start_child(framework, os.path.join(logdir, "%s0" % framework), start=back, epochs=1)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.strip().endswith("done"), err[-3000:]
        for name, steps in trajectory_steps(run_dir).items():
            assert steps[0] == 0 and back in steps and steps == sorted(set(steps)), (name, steps)
            assert steps[:steps.index(back)] == [s for s in old[name] if s < back], name
    return {run: trajectory_steps(run_dir) for run, run_dir in expected.items()}, torn


@pytest.fixture(scope="module")
def killed_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("killed")
    expected, torn = killed_runs(logdir, TRIALS)
    print("torn last records:", torn)
    return logdir, expected


def test_killed_and_restarted_runs_load_in_a_real_tensorboard(killed_logdir):
    logdir, expected = killed_logdir
    with tbserver.tensorboard(logdir, "--load_fast=true", "--reload_interval=1") as url:
        tags = tbserver.wait_for(lambda: tbserver.route_json(url, "tags"),
                                 lambda t: set(expected) <= set(t["runs"]))
        assert not tags.get("errors"), tags["errors"]
        for run, by_name in expected.items():
            for name, steps in by_name.items():
                got = tbserver.route_json(url, "trajectory", run=run, tag=name)
                assert got["step"] == steps, (run, name)
            findings = tbserver.route_json(url, "findings", run=run)
            assert isinstance(findings, (list, dict))
    log = open(os.path.join(logdir, ".tensorboard.log"), encoding="utf-8", errors="replace").read()
    assert "Traceback" not in log and "Exception" not in log


def test_killed_and_restarted_runs_load_in_the_report(killed_logdir):
    logdir, expected = killed_logdir
    served = store.Store(providers.python_provider(str(logdir)))
    for run, by_name in expected.items():
        got = {name: steps.tolist() for name, _, steps, _ in served.trajectories(providers.CTX, "", run)}
        assert got == by_name, run
    proc = subprocess.run(["tb-nnviz", "report", str(logdir), "--json", "--fail-on", "never"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert set(expected) <= set(json.loads(proc.stdout)["runs"]), proc.stdout[:2000]
    assert "Traceback" not in proc.stderr and "rror" not in proc.stderr, proc.stderr
