"""``tb-nnviz report``: the findings of every run in a log dir, for people and CI.

The log dir is read the way TensorBoard reads it (its event multiplexer and
``MultiplexerDataProvider``), and each run's findings come from the plugin's
own ``findings`` route implementation, so the report, the route and the tab
always agree.

``tb-nnviz report`` first calls ``read_without_tensorflow``: TensorBoard's
loader then reads the event files through its own TensorFlow stub (as it does
where TensorFlow is not installed), with the records' CRC32C computed in C.
Importing TensorFlow for that took most of the report's time and printed its
start-up lines on stderr; the records, runs and first-metadata rules are
TensorBoard's either way.

>>> print(format_table({"a/train": []}))
a/train: no findings
>>> from tb_nnviz.diagnose.compose import Findings
>>> print(format_table({"b/train": Findings([], ["no training loss scalar found: the loss rules did not run"])}))
b/train: no findings in what could be judged; not judged:
  - no training loss scalar found: the loss rules did not run
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

import google_crc32c
from tensorboard import compat, context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin

from tb_nnviz.diagnose import findings
from tb_nnviz.format import metadata
from tb_nnviz.serve import loss_store, plugin

#: ``--fail-on`` choices: a severity, or ``never``.
FAIL_ON = findings.SEVERITIES + ("never",)


class ReportError(Exception):
    """The log dir cannot be read or the arguments select nothing; the message says which."""


#: The module whose presence makes ``tensorboard.compat.tf`` TensorBoard's stub.
_NO_TF = "tensorboard.compat.notf"


def _masked_crc32c(data):
    """The TFRecord checksum of ``data`` (masked CRC32C), in C."""
    crc = google_crc32c.value(bytes(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_without_tensorflow(logdir: str) -> bool:
    """Makes TensorBoard's event loader read ``logdir`` in this process through
    its TensorFlow stub, checksumming in C; True when that is in effect.

    For a process that has not imported TensorFlow (the ``tb-nnviz report``
    command): TensorBoard resolves ``tensorboard.compat.tf`` to its stub when
    the module ``tensorboard.compat.notf`` is importable (its own
    ``no_tensorflow`` build), so this registers it before anything resolves
    ``tf``. The stub's record reader checks each record's CRC32C in pure
    Python (about 5 s for the demo's 48 MB); its checksum function is replaced
    by the same one in C (``google_crc32c``), checked equal first. Nothing
    happens (False) when TensorFlow is already imported or ``tf`` already
    resolved to it (the reading stays TensorFlow's), or for a log dir with a
    URL scheme (``gs://`` needs TensorFlow's file systems).
    """
    if "://" in logdir:
        return False
    version = vars(compat.tf).get("__version__")  # set once the lazy module resolved
    if version is None:
        if "tensorflow" in sys.modules:
            return False
        sys.modules.setdefault(_NO_TF, types.ModuleType(_NO_TF))
        version = compat.tf.__version__
    if version != "stub":
        return False
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as stub  # noqa: PLC0415

    current = getattr(stub, "masked_crc32c", None)
    if current is not None and current is not _masked_crc32c:
        sample = b"\x00tb_nnviz\xff" * 3
        if current(sample) == _masked_crc32c(sample):
            stub.masked_crc32c = _masked_crc32c
    return True


def load(
    logdir: str, run_pattern: str | None = None, loss_tags: str | Sequence[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``{run: [finding, ...]}`` of every run under ``logdir`` with trajectory data.

    Args:
      logdir: a directory TensorBoard can read (local or a supported URL).
      run_pattern: a regular expression; only runs it matches (``re.search``)
        are reported. None: every run.
      loss_tags: the scalar tags of the training and validation loss,
        ``"TRAIN[,VALIDATION]"`` or ``(train, validation)``, for a loss
        written under a name the loss findings do not know
        (docs/findings.md, "Loss curves"). None: found by name, or
        ``$TB_NNVIZ_LOSS_TAGS``.

    Raises:
      ReportError: ``logdir`` is not a readable directory, ``run_pattern`` is
        not a valid expression, ``loss_tags`` is malformed, or no run (or no
        matching run) has tb_nnviz trajectory data.
    """
    try:
        pattern = re.compile(run_pattern) if run_pattern is not None else None
    except re.error as e:
        raise ReportError("--run %r is not a valid regular expression: %s" % (run_pattern, e)) from None
    try:
        loss_tags = loss_store.normal_loss_tags(loss_tags)
        loss_store.parse_loss_tags(os.environ.get(loss_store.ENVIRONMENT))  # the tab ignores it when malformed
    except ValueError as e:
        raise ReportError(str(e)) from None
    provider, nnviz, ctx = open_logdir(logdir)
    runs = sorted(provider.list_tensors(ctx, experiment_id="", plugin_name=metadata.TRAJECTORY_PLUGIN_NAME))
    if not runs:
        raise ReportError("log dir %r has no tb_nnviz trajectory data" % logdir)
    label = {r: run_label(logdir, r) for r in runs}
    chosen = [r for r in runs if pattern is None or pattern.search(label[r]) or pattern.search(r)]
    if not chosen:
        raise ReportError("--run %r matches none of the runs: %s" % (run_pattern, ", ".join(label[r] for r in runs)))
    with loss_store.given_loss_tags(loss_tags):
        return {label[run]: _relabel(nnviz._findings_impl(ctx, "", run), label) for run in chosen}


def open_logdir(logdir: str, heatmap_samples: int = 1) -> tuple[Any, plugin.NNVizPlugin, context.RequestContext]:
    """``(data provider, NNViz plugin, request context)`` of ``logdir``, read as TensorBoard reads it.

    Keeps every trajectory point; of each heatmap tensor ``heatmap_samples`` steps
    (0: all; the report reads none, ``tb-nnviz animate`` all); of spectra as many as
    TensorBoard keeps, so the alpha findings agree with the tab's; of the loss scalars
    (Keras 3 writes them as tensors) every point.

    Raises:
      ReportError: ``logdir`` is not a readable directory.
    """
    if "://" not in logdir and not os.path.isdir(logdir):
        raise ReportError("log dir %r is not a readable directory" % logdir)
    mux = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.TRAJECTORY_PLUGIN_NAME: 0, metadata.HEATMAP_PLUGIN_NAME: heatmap_samples,
                              metadata.SPECTRUM_PLUGIN_NAME: plugin.DEFAULT_SPECTRUM_SAMPLES,
                              loss_store.SCALARS: 0}
    )
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    nnviz = plugin.NNVizPlugin(base_plugin.TBContext(data_provider=provider, logdir=logdir))
    return provider, nnviz, context.RequestContext()


def run_label(logdir: str, run: str) -> str:
    """The name the report gives ``run`` of ``logdir``: the run's own name, except that a
    log dir which is itself one run (TensorBoard's run ".") is named by its directory's
    basename, as TensorBoard shows it when started on the parent directory.

    >>> run_label("logs/run1/", "."), run_label("logs", "run1/train"), run_label("/", ".")
    ('run1', 'run1/train', '.')
    """
    if run != ".":
        return run
    path = logdir.rstrip("/\\")
    if "://" not in logdir:
        path = os.path.basename(os.path.abspath(path or os.sep))
    else:
        path = path.rpartition("/")[2]
    return path or "."


def _relabel(found, label):
    """``found`` with the run names in its findings' evidence (``scalars_run``,
    ``validation_run``) given as the report names them (``run_label``)."""
    for f in found:
        evidence = f.get("evidence")
        if isinstance(evidence, dict):
            for key in ("scalars_run", "validation_run"):
                if evidence.get(key) in label:
                    evidence[key] = label[evidence[key]]
        _relabel(f.get("consequences") or (), label)
    return found


def notes_of(by_run: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[str]]:
    """``{run: [note, ...]}``: what the rules could not judge in each run
    (``compose.Findings.notes``; ``[]`` for a plain list of findings)."""
    return {run: list(getattr(found, "notes", ())) for run, found in by_run.items()}


def _step(finding):
    """The STEP cell: the step, or "epoch N" where the finding counts epochs (Keras' loss curves).

    >>> _step({"step": 3, "evidence": {"step_unit": "epoch"}}), _step({"step": 40, "evidence": {}})
    ('epoch 3', '40')
    """
    if (finding.get("evidence") or {}).get("step_unit") == "epoch":
        return "epoch %d" % finding["step"]
    return str(finding["step"])


def format_table(by_run: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """A plain-text table per run: severity, kind, layer, step and message
    (a cause's consequences in rows under it, their kind after "> "), then
    the run's notes (what could not be judged). A run with notes and no
    findings reads "no findings in what could be judged", never "no findings"
    alone."""
    lines = []
    header = ("SEVERITY", "KIND", "LAYER", "STEP", "MESSAGE")
    notes = notes_of(by_run)
    for run, found in by_run.items():
        if not found:
            if notes[run]:
                lines.append("%s: no findings in what could be judged; not judged:" % run)
                lines.extend("  - %s" % n for n in notes[run])
            else:
                lines.append("%s: no findings" % run)
            continue
        lines.append("%s: %d finding%s" % (run, len(found), "s" * (len(found) > 1)))
        # A cause's consequences (compose.nest) follow it, their kind indented under "> ".
        rows = [header] + [
            (g["severity"], ("  > " * depth) + g["kind"], g["layer"] or "-", _step(g), g["message"])
            for depth, g in _with_consequences(found)
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            cells = [r[i].ljust(widths[i]) if i != 3 else r[i].rjust(widths[i]) for i in range(4)]
            lines.append("  " + "  ".join(cells + [r[4]]))
        if notes[run]:
            lines.append("  not judged:")
            lines.extend("  - %s" % n for n in notes[run])
    return "\n".join(lines)


def _with_consequences(found, depth=0):
    """``(depth, finding)`` of ``found`` and, after each, its ``consequences``, one level deeper."""
    for f in found:
        yield depth, f
        yield from _with_consequences(f.get("consequences") or (), depth + 1)


def exit_status(by_run: Mapping[str, Sequence[Mapping[str, Any]]], fail_on: str = "error") -> int:
    """1 when a finding at or above ``fail_on`` exists, else 0 (``never``: always 0).

    >>> exit_status({"a": [{"severity": "warning"}]}), exit_status({"a": [{"severity": "warning"}]}, "warning")
    (0, 1)
    """
    if fail_on == "never":
        return 0
    return int(any(findings.at_least(found, fail_on) for found in by_run.values()))
