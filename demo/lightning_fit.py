"""The seed article's model as a LightningModule, logged by ``tb_nnviz.lightning.NNVizCallback``.

Dense 64 relu, Dense 64 relu, Dense 10 on the 8x8 digits, fit by
``lightning.Trainer``. Its ``TensorBoardLogger`` writes the loss
(``self.log("loss", ...)``, which the tab's loss findings read) into
``<logdir>/lightning_logs/version_N``; the callback adds the weights, their
updates and gradients to the same run. ``--devices 2`` fits with DDP on 2 CPU
processes (Lightning relaunches this script; only the first process writes).

    python demo/lightning_fit.py
    tensorboard --logdir logs/lightning_fit    # then open the NNViz tab

``--smoke`` trains on a few batches (what the tests run).
"""

import argparse

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from sklearn.datasets import load_digits

from tb_nnviz.lightning import NNVizCallback


class DigitsMLP(pl.LightningModule):
    def __init__(self, lr=1e-3):
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 10),
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/lightning_fit")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--devices", type=int, default=1, help="CPU processes; more than 1 fits with DDP")
    parser.add_argument("--smoke", action="store_true", help="a few batches only")
    args = parser.parse_args(argv)

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    if args.smoke:
        x, y, args.epochs = x[:256], y[:256], 2
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)

    torch.manual_seed(0)
    trainer = pl.Trainer(
        accelerator="cpu", devices=args.devices, strategy="ddp" if args.devices > 1 else "auto",
        max_epochs=args.epochs, logger=TensorBoardLogger(args.logdir), log_every_n_steps=5,
        callbacks=[NNVizCallback(heatmap_freq=100, trajectory_freq=5)],  # logs into the logger's run
        enable_checkpointing=False, enable_model_summary=False,
    )
    trainer.fit(DigitsMLP(), loader)
    if trainer.is_global_zero:
        print("tensorboard --logdir %s" % args.logdir)


if __name__ == "__main__":
    main()
