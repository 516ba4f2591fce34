"""Side-by-side benchmarks of tb_nnviz; ``python -m benchmarks`` writes BENCHMARKS.md.

Each benchmark module (``training``, ``server``, ``tab``) has a
``run(ctx) -> list[Table]``. Measurements of the things being compared are
interleaved (A B A B ...) so that drift of the machine hits every arm alike,
and reported as medians (and p95 for latencies) with ratios to a baseline
measured in the same run.

Shared here: :class:`Context` (options and the Targets list), :class:`Table`,
statistics, progress lines on stderr, machine and version information.
"""

import dataclasses
import os
import platform
import sys
import time

import numpy as np

__all__ = ["Context", "Table", "Target", "median", "p95", "progress", "machine_info", "versions", "fmt"]

_START = time.monotonic()


def progress(message):
    """One progress line on stderr, prefixed by the seconds since start."""
    print("[benchmarks %6.1fs] %s" % (time.monotonic() - _START, message), file=sys.stderr, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else float("nan")


def p95(values):
    values = [v for v in values if v is not None]
    return float(np.percentile(values, 95)) if values else float("nan")


def fmt(value, digits=3):
    """A number for a markdown cell: ``digits`` significant digits, thousands separated."""
    if value is None:
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return "{:,}".format(int(value))
    value = float(value)
    if value != value:
        return "nan"
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        return "{:,.0f}".format(value)
    if abs(value) < 1e-3:
        return "%.*e" % (digits - 1, value)
    return "%.*g" % (digits, value)


@dataclasses.dataclass
class Table:
    """One markdown table: ``meaning`` is the sentence saying what the ratios mean."""

    name: str
    title: str
    columns: list
    rows: list
    meaning: str
    notes: list = dataclasses.field(default_factory=list)

    def markdown(self):
        out = ["### %s" % self.title, "", self.meaning, ""]
        out.append("| " + " | ".join(self.columns) + " |")
        out.append("|" + "|".join(" --- " for _ in self.columns) + "|")
        for row in self.rows:
            out.append("| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in row) + " |")
        for note in self.notes:
            out += ["", note]
        return "\n".join(out) + "\n"


@dataclasses.dataclass
class Target:
    target: str
    measured: str
    met: bool
    finding: str = ""


@dataclasses.dataclass
class Context:
    """Options shared by the benchmarks, and where they report targets."""

    smoke: bool
    workdir: str
    targets: list = dataclasses.field(default_factory=list)
    # Set by the server benchmark for the others to reuse (None when it did not run).
    server_logdir: str = None

    def size(self, full, smoke):
        return smoke if self.smoke else full


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return "%.1f GiB" % (int(line.split()[1]) / 2**20)
    except OSError:
        pass
    return "unknown"


def machine_info():
    """``[(key, value)]`` describing the machine the numbers were taken on."""
    return [
        ("CPU", _cpu_model()),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("usable cores (sched_getaffinity)",
         str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "n/a"),
        ("memory", _memory()),
        ("OS", platform.platform()),
    ]


def versions(with_tf=True):
    """``[(package, version)]`` of the software measured."""
    from importlib import metadata

    def v(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    import tb_nnviz

    rows = [("python", platform.python_version())]
    if with_tf:
        rows.append(("tensorflow", v("tensorflow-cpu") if v("tensorflow-cpu") != "not installed" else v("tensorflow")))
        rows.append(("keras", v("keras")))
    rows += [
        ("tensorboard", v("tensorboard")),
        ("tensorboard-data-server", v("tensorboard-data-server")),
        ("numpy", v("numpy")),
        ("scikit-learn", v("scikit-learn")),
        ("playwright", v("playwright")),
        ("tb-nnviz", "%s (tb_nnviz.__version__ %s)" % (v("tb-nnviz"), tb_nnviz.__version__)),
    ]
    try:
        import subprocess

        out = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=20)
        rows.append(("chromium", out.stdout.strip() or "unknown"))
    except (OSError, subprocess.SubprocessError):
        rows.append(("chromium", "not found"))
    return rows
