"""The seed article's model in PyTorch, watched by ``tb_nnviz.torch.watch``.

Dense 64 relu, Dense 64 relu, Dense 10 on the 8x8 digits, a plain PyTorch
loop with Adam. ``torch.utils.tensorboard.SummaryWriter`` logs the loss;
``watch`` adds the weights, their updates and gradients to the same run,
through the optimizer's step hooks (the loop does not change).

    python demo/pytorch_mlp.py
    tensorboard --logdir logs/pytorch_mlp    # then open the NNViz tab

``--smoke`` trains on a few batches (what the tests run).
"""

import argparse

import torch
from sklearn.datasets import load_digits

import tb_nnviz.torch  # before torch.utils.tensorboard, see tb_nnviz.torch's docstring

from torch.utils.tensorboard import SummaryWriter  # noqa: E402  (isort: skip)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/pytorch_mlp")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a few batches only")
    args = parser.parse_args(argv)

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    if args.smoke:
        x, y, args.epochs = x[:256], y[:256], 2

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scalars = SummaryWriter(args.logdir)
    with tb_nnviz.torch.watch(model, args.logdir, optimizer, heatmap_freq=100, trajectory_freq=5):
        step = 0
        for epoch in range(args.epochs):
            for batch in torch.randperm(len(x)).split(32):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
                loss.backward()
                optimizer.step()  # watch logs here, every 5 steps
                step += 1
                scalars.add_scalar("loss", loss.item(), step)
            print("epoch %d: loss %.3f" % (epoch + 1, loss.item()))
    scalars.close()
    print("tensorboard --logdir %s" % args.logdir)


if __name__ == "__main__":
    main()
