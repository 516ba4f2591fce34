"""Hugging Face ``transformers``: ``NNVizCallback`` logs a ``Trainer``'s model into its TensorBoard run.

One callback; the training code does not change::

    from tb_nnviz.transformers import NNVizCallback

    args = TrainingArguments("out", report_to="tensorboard", logging_steps=10)
    Trainer(model, args, train_dataset=train, callbacks=[NNVizCallback(trajectory_freq=10)]).train()

It writes into the run directory transformers' own TensorBoard callback writes
for ``report_to="tensorboard"`` (so the loss curves and the NNViz tab are one
run), counts steps in ``state.global_step`` (one step per optimizer step, so
``gradient_accumulation_steps`` micro-batches make one step) and logs through
``tb_nnviz.torch.Watcher``: weights, updates and gradients, at the steps and
with the options of ``tb_nnviz.torch.watch``.

How it hooks in: ``on_train_begin`` hands the callback the optimizer Trainer
built, wrapped by accelerate (``AcceleratedOptimizer``); the callback unwraps
``.optimizer`` to the torch optimizer and the watcher logs through its step
hooks, as ``watch`` does: the gradients are read in the step's pre-hook, after
Trainer clipped them and AMP's scaler unscaled them and before Trainer zeroes
them, and a step the scaler skips logs nothing. ``on_pre_optimizer_step`` sets
the watcher's step to ``state.global_step``, so its axis stays Trainer's. An
optimizer that is not a torch one underneath (DeepSpeed's) is logged from the
``on_pre_optimizer_step`` / ``on_optimizer_step`` events instead. The last
step is logged, with its gradients, right after its optimizer step (before
Trainer zeroes the gradients, and before ``load_best_model_at_end`` reloads
other weights); training that stops early logs its last state at
``on_train_end``, without gradients.

``report_to`` cannot name this callback: transformers takes its values from a
fixed table (``transformers.integrations.INTEGRATION_TO_CALLBACK``) that only
patching transformers would extend; pass it in ``callbacks=``.

Only the world's process zero (``state.is_world_process_zero``) writes.
Import this module before TensorFlow (see ``tb_nnviz.torch``); ``import
tb_nnviz`` does not import transformers.
"""

import os
import sys

import torch
import transformers
from transformers.integrations import integration_utils

import tb_nnviz.torch

__all__ = ["NNVizCallback", "run_dir"]

class NNVizCallback(transformers.TrainerCallback):
    """Logs a ``Trainer``'s model (weights, updates, gradients, spectra) for the NNViz tab.

    Args:
      log_dir: the run directory; default: the one transformers' TensorBoard
        callback writes (see :func:`run_dir`).
      **options: ``tb_nnviz.torch.watch``'s options (``heatmap_freq="auto"``,
        ``trajectory_freq=20``, ``spectral_freq="auto"``, ``gradients=True``,
        ``include``, ``exclude``, ``max_cells``, ``max_total_cells``,
        ``num_traces``, ``sketch_dim``, ``seed``, ``trainable_only``,
        ``strict``, ``full_resolution``), counted in optimizer steps (``state.global_step``).

    Attributes:
      watcher: the ``tb_nnviz.torch.Watcher`` of the current ``train()`` (None
        before it, on processes other than zero, and after it: then see
        ``last_watcher``).
      log_dir: the run directory, once training began (None until then, unless given).
    """

    def __init__(self, log_dir=None, **options):
        tb_nnviz.torch.watch_options(options, "NNVizCallback")  # refuses an option watch does not take
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self._explicit_dir = log_dir is not None
        self.options = options
        self.watcher = None
        self.last_watcher = None
        self._hooked = False

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        self._close()
        if not self._explicit_dir:
            self.log_dir = run_dir(args, state, _tensorboard_callback())
        if not state.is_world_process_zero:
            return
        inner = _torch_optimizer(optimizer)
        self._hooked = inner is not None
        self.watcher = tb_nnviz.torch.Watcher(model, self.log_dir, inner, step=state.global_step,
                                              **tb_nnviz.torch.watch_options(self.options, "NNVizCallback"))

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if self.watcher is not None:
            self.watcher.step = state.global_step  # the coming step is global_step + 1
            if not self._hooked:
                self.watcher.before_step()

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self.watcher is None:
            return
        if not self._hooked:
            self.watcher.after_step()
        self.watcher.step = state.global_step + 1  # also after a step AMP's scaler skipped
        if self.watcher.step >= state.max_steps > 0:
            self._close()  # the last step: its gradients are still in .grad (Trainer zeroes them next)

    def on_train_end(self, args, state, control, **kwargs):
        if self.watcher is not None:
            self.watcher.step = state.global_step
        self._close()

    def _close(self):
        if self.watcher is not None:
            self.watcher.close()
            self.last_watcher, self.watcher = self.watcher, None


def run_dir(args, state=None, tensorboard_callback=None):
    """The run directory transformers' TensorBoard callback writes (or would write) for ``args``.

    From ``tensorboard_callback`` (a ``TensorBoardCallback`` of the same
    Trainer) when given: its writer's directory, or the directory it chose.
    Otherwise its rule: transformers 5 takes ``$TENSORBOARD_LOGGING_DIR``, else
    ``args.output_dir/runs/<date>_<host>`` (``<trial>`` below that under a
    hyperparameter search); older versions take ``args.logging_dir``. A
    callback that has not chosen yet (it comes after this one in the
    callback list) is given the directory chosen here, so both write into it.
    """
    cb = tensorboard_callback
    writer = getattr(cb, "tb_writer", None)
    if writer is not None and hasattr(writer, "get_logdir"):
        return writer.get_logdir()
    if getattr(cb, "logging_dir", None):
        return cb.logging_dir
    trial = getattr(state, "trial_name", None) if getattr(state, "is_hyper_param_search", False) else None
    env = os.getenv("TENSORBOARD_LOGGING_DIR")
    if hasattr(args, "logging_dir") and args.logging_dir:  # transformers < 5
        found = args.logging_dir if trial is None else os.path.join(args.logging_dir, trial)
    elif env is not None and trial is None:
        found = os.path.expanduser(env)
    else:
        found = os.path.join(args.output_dir, integration_utils.default_logdir(), *([trial] if trial else []))
    if cb is not None and hasattr(cb, "logging_dir") and trial is None:
        cb.logging_dir = found
    return found


def _tensorboard_callback():
    """The ``TensorBoardCallback`` of the Trainer whose callback handler is calling us, if any.

    Callbacks are not handed the Trainer or its callback list, so the handler
    is found as the ``self`` of the calling ``CallbackHandler.call_event``.
    """
    frame = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            break
        handler = frame.f_locals.get("self")
        if isinstance(handler, transformers.trainer_callback.CallbackHandler):
            return next((cb for cb in handler.callbacks if isinstance(cb, integration_utils.TensorBoardCallback)),
                        None)
        frame = frame.f_back
    return None


def _torch_optimizer(optimizer):
    """The torch optimizer that takes the steps: ``optimizer``, or the one it wraps (``.optimizer``), or None."""
    chain = []
    while optimizer is not None and len(chain) < 8:
        chain.append(optimizer)
        optimizer = getattr(optimizer, "optimizer", None)
    # The innermost one built by torch.optim.Optimizer.__init__ (accelerate's wrapper is not: it has no step hooks).
    return next((o for o in reversed(chain) if isinstance(o, torch.optim.Optimizer)
                 and hasattr(o, "_optimizer_step_pre_hooks")), None)
