"""PyTorch: ``tb_nnviz.torch.watch`` on torchvision ResNet-18 (``weights=None``, CPU).

Measured in a subprocess: Triton (loaded by every torch optimizer) crashes a
process that already holds TensorFlow, which the other benchmarks import.
Two measurements, each side by side in one run:

- one logged step of ``ParamLogger`` (what ``watch`` does at a logged step)
  against the floor, a copying read of every parameter to new host memory
  (``[p.detach().to("cpu", copy=True) for p in model.parameters()]``; on CPU
  ``p.detach().cpu().numpy()`` shares the parameter's memory and reads
  nothing), and against ``torch.utils.tensorboard``'s ``add_histogram`` of
  every parameter, interleaved;
- activation statistics: the training forward of a logged step with
  ``watch``'s activation recorder armed (``torch_activations.ActivationRecorder``:
  hooks, device reductions, the event written) against the same forward
  without it, interleaved with the step above; the difference is judged
  against the logged step;
- training time: short fits (32x32 inputs, a few hundred SGD steps) without
  logging, with ``watch`` at its defaults and with ``add_histogram`` of every
  parameter every ``FREQ`` steps, interleaved after a warm-up fit.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from unittest import mock

from benchmarks import Table, Target, median, progress

#: The watcher's default trajectory_freq, also add_histogram's cadence.
FREQ = 20
#: Optimizer steps between the watcher's heatmaps and spectra at its defaults.
HEATMAP_FREQ = 500
STEP_KINDS = ("trajectories + gradients", "trajectories + gradients, torch ops", "heatmaps + trajectories", "heatmaps",
              "spectra", "add_histogram")


def measure(smoke, fits=True):
    """The measurements as a JSON-ready dict; runs in a process without TensorFlow.

    ``fits=False`` measures the logged steps only (``fit`` is then empty).
    """
    import torch._dynamo  # noqa: F401  (before anything can import TensorFlow)
    import torchvision
    from torch.utils.tensorboard import SummaryWriter

    import tb_nnviz.torch
    from tb_nnviz.log.torch_activations import ActivationRecorder
    from tb_nnviz.log.torch_logger import ParamLogger, module_name, param_specs
    from tb_nnviz.log.writer import Writer

    root = tempfile.mkdtemp(prefix="torch-")
    side, batch, steps = (16, 4, 2 * FREQ) if smoke else (32, 4, 10 * FREQ)
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(batch, 3, side, side, generator=gen), torch.randint(0, 10, (batch,), generator=gen))
            for _ in range(4)]

    def build():
        torch.manual_seed(0)
        if smoke:  # a tiny CNN: the smoke run checks the tables, not ResNet-18's numbers
            return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                                       torch.nn.Flatten(), torch.nn.Linear(128, 10))
        return torchvision.models.resnet18(weights=None, num_classes=10)

    def backward(model):
        x, y = data[0]
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()

    # One logged step of each kind against the floor and add_histogram, interleaved.
    model = build()
    backward(model)  # gradients for capture_gradients, as at a logged step of a fit
    params = list(model.parameters())
    writer = Writer(os.path.join(root, "step"))
    hist = SummaryWriter(os.path.join(root, "hist"))
    t0 = time.perf_counter()
    logger = ParamLogger(writer, param_specs(model), spectra=True)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    logger.log(0, True, True, True)
    first = time.perf_counter() - t0
    counter = iter(range(1, 10**6))

    def logged(heat, traj, spec, grads=False, torch_ops=False):
        def run():
            with mock.patch.object(logger, "one_pass", False) if torch_ops else nullcontext():
                if grads:
                    logger.capture_gradients()
                logger.log(next(counter), heat, traj, spec)
        return run

    def histograms():
        step = next(counter)
        for name, p in model.named_parameters():
            hist.add_histogram(name, p, step)

    def read():
        return [p.detach().to("cpu", copy=True) for p in params]

    def read_on_one_thread():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            read()
        finally:
            torch.set_num_threads(threads)

    recorder = ActivationRecorder(model, clean=module_name)
    act_writer = Writer(os.path.join(root, "activations"))

    def forward(record=False, heatmaps=False):
        def run():
            step = next(counter)
            if record:
                recorder.arm(step, heatmaps)
            model(data[1][0])
            if record:
                recorder.write(act_writer, recorder.take(), step)
        return run

    # The forwards on one intra-op thread: with two, a forward on this loaded 2-core machine swings
    # tenfold between runs and the difference of two of them means nothing.
    forwards = {
        "forward": forward(),
        "forward + activation statistics": forward(True),
        "forward + activation statistics + heatmaps": forward(True, True),
    }
    kinds = {
        "floor": read,
        "floor, one thread": read_on_one_thread,
        "trajectories + gradients": logged(False, True, False, grads=True),
        "trajectories + gradients, torch ops": logged(False, True, False, grads=True, torch_ops=True),
        "heatmaps + trajectories": logged(True, True, False, grads=True),
        "heatmaps": logged(True, False, False),
        "spectra": logged(False, False, True),
        "add_histogram": histograms,
    }
    times = {k: [] for k in list(kinds) + list(forwards)}
    threads = torch.get_num_threads()
    for _ in range(2 if smoke else 5):
        for kind, fn in kinds.items():
            t0 = time.perf_counter()
            fn()
            times[kind].append(time.perf_counter() - t0)
        torch.set_num_threads(1)
        try:
            for _ in range(3):
                for kind, fn in forwards.items():
                    t0 = time.perf_counter()
                    fn()
                    times[kind].append(time.perf_counter() - t0)
        finally:
            torch.set_num_threads(threads)
    writer.close()
    hist.close()
    act_writer.close()

    def fit(arm, run_dir, steps=steps):
        model = build()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        t0 = time.perf_counter()
        watcher = tb_nnviz.torch.watch(model, run_dir, opt, strict=True) if arm == "watch" else None
        hist = SummaryWriter(run_dir) if arm == "add_histogram" else None
        for step in range(1, steps + 1):
            x, y = data[step % len(data)]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if hist is not None and step % FREQ == 0:
                for name, p in model.named_parameters():
                    hist.add_histogram(name, p, step)
        if watcher is not None:
            watcher.close()
        if hist is not None:
            hist.close()
        return time.perf_counter() - t0

    fits = {arm: [] for arm in ("none", "add_histogram", "watch")} if fits else {}
    if fits:
        fit("none", os.path.join(root, "warmup"), steps=2 * FREQ)
    for r in range(1 if smoke else 2) if fits else ():
        for arm in fits:
            fits[arm].append(fit(arm, os.path.join(root, "%s-%d" % (arm, r))))
            progress("torch_models: repeat %d %-13s fit %.2fs" % (r + 1, arm, fits[arm][-1]))
    shutil.rmtree(root, ignore_errors=True)
    return dict(
        params=sum(p.numel() for p in params), tensors=len(params), groups=logger.group_count,
        built=built, first=first, held=logger.extra_bytes, steps=steps, batch=batch, side=side,
        threads=torch.get_num_threads(), torch=torch.__version__,
        step={k: median(v) for k, v in times.items()}, fit={k: median(v) for k, v in fits.items()},
        activation_layers=len(recorder.structure and [m for m in recorder.structure if m.get("activation")] or []),
    )


def run(ctx):
    """Tables for ``watch`` on torchvision ResNet-18 (CPU), measured in a subprocess."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import json; from benchmarks.torch_models import measure; "
            "print(json.dumps(measure(%r)))" % bool(ctx.smoke))
    progress("torch_models: ResNet-18 in a subprocess")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                          timeout=1800, env=dict(os.environ, PYTHONPATH=repo))
    sys.stderr.write(proc.stderr[-2000:] if proc.returncode else "")
    if proc.returncode:
        raise RuntimeError("the torch benchmark failed:\n" + proc.stderr[-4000:])
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    step, fit = m["step"], m["fit"]
    name = "tiny CNN (torch)" if ctx.smoke else "ResNet-18 (torch)"
    floor, floor1 = step["floor"], step["floor, one thread"]
    step_rows = [[name, kind, step[kind] * 1e3, floor * 1e3, step[kind] / floor, step[kind] / floor1]
                 for kind in STEP_KINDS]
    base = fit["none"]
    fit_rows = [[name, arm, fit[arm], fit[arm] - base, fit[arm] / base] for arm in ("none", "add_histogram", "watch")]
    # Steady state over HEATMAP_FREQ steps at the defaults, from the step medians: watch logs
    # trajectory points (with gradients) every FREQ steps, and heatmaps and spectra with one of them.
    per = HEATMAP_FREQ // FREQ
    steady = {"watch": per * step["trajectories + gradients"] + step["heatmaps"] + step["spectra"],
              "add_histogram": per * step["add_histogram"]}
    notes = [
        "torch %s, %d threads (the logger reduces on one: `torch_logger.one_thread`); %s parameters in %d "
        "tensors, %d shape groups; logger built in %.2f s, first logged step (heatmaps, trajectories, spectra) "
        "%.2f s; held between steps %.1f MiB (weights %.1f MiB); the read on one thread took %.1f ms."
        % (m["torch"], m["threads"], "{:,}".format(m["params"]), m["tensors"], m["groups"], m["built"],
           m["first"], m["held"] / 2**20, m["params"] * 4 / 2**20, floor1 * 1e3),
        "Activation statistics (`watch(activations=True)`, in the training forward of a logged step, measured "
        "on one intra-op thread): the forward took %.1f ms, %.1f ms with them recorded and written, %.1f ms "
        "with the activation heatmaps too."
        % (step["forward"] * 1e3, step["forward + activation statistics"] * 1e3,
           step["forward + activation statistics + heatmaps"] * 1e3),
    ]
    # Judged against the read on one thread, as the logger runs: on a loaded machine the read with
    # the default threads is several times slower and would flatter every ratio.
    default = step["trajectories + gradients"] / floor1
    both = step["heatmaps + trajectories"] / floor1
    ctx.targets.append(Target(
        "%s: a logged step at default cadence (trajectories + gradients) <= 5x one read of every parameter"
        % name,
        "ratio %.1f to one copying read on one thread (%.1f to the read with %d threads); heatmaps + "
        "trajectories %.1f (%.1f)" % (default, step["trajectories + gradients"] / floor, m["threads"], both,
                                     step["heatmaps + trajectories"] / floor),
        default <= 5,
        "" if default <= 5 else "see the profile of the step: the one-pass kernels (`tb_nnviz.reduce.numba_ops`) are "
        "the reductions; the rest is finishing the points on the host and writing the event",
    ))
    added = step["forward + activation statistics"] - step["forward"]
    added_heat = step["forward + activation statistics + heatmaps"] - step["forward"]
    logged = step["trajectories + gradients"]
    ctx.targets.append(Target(
        "%s: activation statistics add <= 20%% to a logged step (trajectories + gradients)" % name,
        "%.1f ms added to the forward (%.1f ms without them; %d activation modules), %.0f%% of the %.1f ms "
        "logged step; with the activation heatmaps %.1f ms (%.0f%%)"
        % (added * 1e3, step["forward"] * 1e3, m["activation_layers"], 100 * added / logged, logged * 1e3,
           added_heat * 1e3, 100 * added_heat / logged),
        added <= 0.2 * logged,
        "" if added <= 0.2 * logged else "the hooks' torch ops per activation (tb_nnviz.log.torch_activations."
        "activation_raw) dominate: profile them",
    ))
    over = {arm: fit[arm] - base for arm in ("watch", "add_histogram")}
    ctx.targets.append(Target(
        "%s: fit-time overhead of watch at default cadence <= add_histogram of every parameter every %d steps"
        % (name, FREQ),
        "ratio %.2f vs %.2f to no logging: overhead %.2f s vs %.2f s over %d steps; per %d steps %.1f s vs %.1f s"
        % (fit["watch"] / base, fit["add_histogram"] / base, over["watch"], over["add_histogram"], m["steps"],
           HEATMAP_FREQ, steady["watch"], steady["add_histogram"]),
        over["watch"] <= over["add_histogram"],
        "" if over["watch"] <= over["add_histogram"] else "the fit is short: watch's heatmaps and spectra at the "
        "start and the end weigh more than over a real run (see the steady state per %d steps)" % HEATMAP_FREQ,
    ))
    return [
        Table("torch_step", "PyTorch ResNet-18: one logged step against the floor",
              ["model", "logged", "median ms", "floor ms", "ratio to floor", "ratio to one-thread floor"],
              step_rows,
              "The ratio is the median time of one logged step of `ParamLogger` (what `watch` does at a logged "
              "step: reductions where the parameters live (numba kernels on the CPU), host finishing, the event "
              "handed to the writer; "
              "'+ gradients' includes reading the gradients' norms as the optimizer pre-hook does; 'torch ops' is "
              "the same step without the one-pass numba kernels, as on a machine without numba) divided by the "
              "floor, a copying read of every parameter (`[p.detach().to(\"cpu\", copy=True) for p in "
              "model.parameters()]`; on CPU `.cpu().numpy()` shares memory and reads nothing), all interleaved; "
              "the last column divides by the same read made with one intra-op thread, as the logger runs. "
              "At its defaults `watch` logs 'trajectories + gradients' every %d steps, and heatmaps and spectra "
              "every %d; 'add_histogram' is `torch.utils.tensorboard`'s histogram of every parameter."
              % (FREQ, HEATMAP_FREQ), notes=notes),
        Table("torch_overhead", "PyTorch ResNet-18: training time with watch and with add_histogram",
              ["model", "logging", "fit s", "overhead s", "ratio to none"], fit_rows,
              "Each row is the median wall time of %d SGD steps (batch %d, %dx%d inputs, CPU) with that logging; "
              "the ratio divides it by the median without, arms interleaved after a warm-up. `watch`: "
              "`tb_nnviz.torch.watch` at its defaults (trajectory points with gradients every %d steps, heatmaps "
              "and spectra every %d and at the start and the end); `add_histogram`: `torch.utils.tensorboard` "
              "histograms of every parameter every %d steps." % (m["steps"], m["batch"], m["side"], m["side"], FREQ,
                                                                 HEATMAP_FREQ, FREQ),
              notes=["Steady state per %d steps, from the step medians above: watch %.2f s (%d trajectory "
                     "steps, one with heatmaps and spectra), add_histogram %.2f s (%d histogram steps)."
                     % (HEATMAP_FREQ, steady["watch"], per, steady["add_histogram"], per)]),
    ]
