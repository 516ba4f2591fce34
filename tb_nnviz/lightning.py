"""Lightning: ``NNVizCallback`` logs a ``LightningModule`` into its ``TensorBoardLogger``'s run.

One callback; the module and the loop do not change::

    from tb_nnviz.lightning import NNVizCallback

    trainer = lightning.Trainer(max_epochs=10, callbacks=[NNVizCallback(trajectory_freq=10)])
    trainer.fit(model, train_loader)  # logs into lightning_logs/version_N, beside self.log's scalars

It logs through ``tb_nnviz.torch.Watcher`` (weights, updates, gradients,
spectra, at the steps and with the options of ``tb_nnviz.torch.watch``),
counting optimizer steps as ``trainer.global_step`` does, so the NNViz tab and
the scalars of ``self.log`` share one step axis; with
``accumulate_grad_batches`` one optimizer step is one step.

How it hooks in: Lightning steps the optimizer with a closure that runs
``training_step`` and ``backward`` inside ``optimizer.step()``, so the
optimizer's step pre-hook (which ``watch`` reads gradients in) comes before
the gradients exist. The callback reads them in ``on_before_optimizer_step``
instead: after ``backward`` (and after AMP's scaler unscaled them), before
Lightning clips them (``gradient_clip_val``) and before the step, as
Lightning's own gradient-norm logging does. The step is counted, and logged
when due, in ``on_train_batch_end`` once ``trainer.global_step`` moved; the
last state is logged at ``on_train_end`` (or ``on_exception``).

Under DDP (``strategy="ddp"``, ``"ddp_spawn"``, any number of processes), only
the global zero process (``trainer.is_global_zero``) writes. Import this module
before TensorFlow (see ``tb_nnviz.torch``); ``import tb_nnviz`` does not import
Lightning.
"""

import os

import lightning.pytorch as pl
from lightning.pytorch.loggers import TensorBoardLogger

import tb_nnviz.torch

__all__ = ["NNVizCallback", "run_dir"]

class NNVizCallback(pl.Callback):
    """Logs a ``LightningModule`` (weights, updates, gradients, spectra) for the NNViz tab.

    Args:
      log_dir: the run directory; default: the ``TensorBoardLogger``'s
        ``log_dir`` (see :func:`run_dir`).
      **options: ``tb_nnviz.torch.watch``'s options (``heatmap_freq="auto"``,
        ``trajectory_freq=20``, ``spectral_freq="auto"``, ``gradients=True``,
        ``include``, ``exclude``, ``max_cells``, ``max_total_cells``,
        ``num_traces``, ``sketch_dim``, ``seed``, ``trainable_only``,
        ``strict``, ``full_resolution``), counted in optimizer steps (``trainer.global_step``).

    Attributes:
      watcher: the ``tb_nnviz.torch.Watcher`` of the current fit (None before
        it, on processes other than the global zero, and after it: then see
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

    def on_train_start(self, trainer, pl_module):
        self._close()
        if not self._explicit_dir:
            self.log_dir = run_dir(trainer)  # on every process: trainer.log_dir is a collective
        if trainer.is_global_zero:
            self.watcher = tb_nnviz.torch.Watcher(pl_module, self.log_dir, None, step=trainer.global_step,
                                                  **tb_nnviz.torch.watch_options(self.options, "NNVizCallback"))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.watcher is not None:
            self.watcher.step = trainer.global_step  # the coming step is global_step + 1
            self.watcher.before_step()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.watcher is not None and trainer.global_step != self.watcher.step:
            self.watcher.step = trainer.global_step - 1
            self.watcher.after_step()

    def on_train_end(self, trainer, pl_module):
        self._close()

    def on_exception(self, trainer, pl_module, exception):
        self._close()

    def _close(self):
        if self.watcher is not None:
            self.watcher.close()
            self.last_watcher, self.watcher = self.watcher, None


def run_dir(trainer):
    """The run directory of ``trainer``'s TensorBoard scalars.

    The ``log_dir`` of the first ``TensorBoardLogger`` among ``trainer.loggers``
    (``save_dir/name/version_N``); without one, ``trainer.log_dir`` (the first
    logger's directory, or ``default_root_dir``), which must be asked on every
    process.
    """
    tensorboard = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
    return tensorboard.log_dir if tensorboard is not None else trainer.log_dir
