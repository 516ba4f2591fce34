"""The seed article's model under FSDP2 (``fully_shard``) on 2 CPU processes, watched by ``tb_nnviz.torch.watch``.

Dense 64 relu, Dense 64 relu, Dense 10 on the 8x8 digits, each rank training
on its half of every batch; ``fully_shard`` leaves each rank a block of rows
of every weight (a ``DTensor``). ``watch`` is called on every rank, as
``fully_shard`` is: each rank reduces its own blocks, one collective per
logged step combines them (heatmaps included), and rank 0 writes the run;
only spectra gather a whole matrix, on rank 0, at their steps (README,
"PyTorch").

    torchrun --nproc-per-node 2 demo/fsdp_train.py
    tensorboard --logdir logs/fsdp_train    # then open the NNViz tab

Without ``torchrun`` (``python demo/fsdp_train.py``) it starts its 2
processes itself. ``--smoke`` trains on a few batches.
"""

import argparse
import os
import sys

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch.distributed.fsdp import fully_shard

import tb_nnviz.torch  # before torch.utils.tensorboard, see tb_nnviz.torch's docstring

from torch.utils.tensorboard import SummaryWriter  # noqa: E402  (isort: skip)


def train(args):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    if args.smoke:
        x, y, args.epochs = x[:256], y[:256], 2

    torch.manual_seed(0)  # the same initial model on every rank
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer)
    fully_shard(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_writer = SummaryWriter(args.logdir) if rank == 0 else None
    batch = 32
    freq = dict(trajectory_freq=5, heatmap_freq=20) if args.smoke else {}
    with tb_nnviz.torch.watch(model, args.logdir, opt, **freq) as watcher:
        for _ in range(args.epochs):
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(watcher.step))
            for start in range(0, len(x) - batch + 1, batch):
                idx = order[start : start + batch][rank::world]  # this rank's half of the batch
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                if loss_writer is not None:
                    loss_writer.add_scalar("loss", loss.item(), watcher.step)
    if loss_writer is not None:
        loss_writer.close()
        print("logged %d optimizer steps; now run:\n  tensorboard --logdir %s" % (watcher.step, args.logdir))
    dist.destroy_process_group()


def spawned(rank, argv, port):
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    train(parse(argv))


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/fsdp_train")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a few batches only")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "RANK" in os.environ:  # under torchrun
        train(parse(argv))
        return
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(spawned, args=(argv, port), nprocs=2)


if __name__ == "__main__":
    main()
