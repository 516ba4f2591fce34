"""PyTorch runs of the corpus: a model, a loop with one bug (or none), ``watch`` and a loss scalar.

Each run writes what a PyTorch user's run holds: ``tb_nnviz.torch.watch`` at
its defaults but a denser trajectory (these runs are a few hundred steps) and
``SummaryWriter.add_scalar("loss", ...)`` every step (``accuracy`` too where
the spec says so). After training it measures what really happened (the
pathology's ground truth: accuracy, dead or saturated units, NaN, weight
growth), which the corpus checks before it scores the findings.
"""

import math

import numpy as np

from benchmarks.diagnosis import data


def _act(name):
    import torch.nn as nn

    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "none": nn.Identity}[name]()


def build(spec):
    """The model of ``spec`` (an ``nn.Module`` taking the batch of ``inputs(spec)``)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(spec.get("seed", 0))
    arch = spec["arch"]
    if arch == "mlp":
        widths = [64] + [spec.get("width", 64)] * spec.get("depth", 2)
        layers = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), _act(spec.get("act", "relu"))]
            if spec.get("dropout"):
                layers.append(nn.Dropout(spec["dropout"]))
        layers.append(nn.Linear(widths[-1], 10))
        if spec.get("softmax_output"):
            layers.append(nn.Softmax(dim=-1))
        model = nn.Sequential(*layers)
    elif arch == "cnn":
        act = spec.get("act", "relu")
        model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3), _act(act), nn.Conv2d(8, 16, 3),
                              _act(act), nn.Flatten(), nn.Linear(16 * 4 * 4, 10))
    elif arch in ("rnn", "lstm", "gru"):
        model = _recurrent(arch, spec.get("hidden", 32), spec.get("act", "tanh"))
    elif arch == "transformer":
        model = _transformer(spec.get("norm_first", True), spec.get("d", 32), spec.get("layers", 2))
    else:
        raise ValueError("unknown arch %r" % arch)
    _init(model, spec.get("init", "default"), spec.get("init_scale", 8.0))
    return model


def _recurrent(kind, hidden, act):
    """A token embedding, one recurrent layer and a linear head on its last state."""
    import torch.nn as nn

    class Recurrent(nn.Module):
        def __init__(self, kind, hidden, act):
            super().__init__()
            self.embed = nn.Embedding(8, 16)
            if kind == "rnn":
                self.rnn = nn.RNN(16, hidden, batch_first=True, nonlinearity=act if act in ("tanh", "relu") else "tanh")
            else:
                self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](16, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 4)

        def forward(self, tokens):
            out, _ = self.rnn(self.embed(tokens))
            return self.head(out[:, -1])

    return Recurrent(kind, hidden, act)


def _transformer(norm_first, d, layers):
    """A token embedding with learned positions, an encoder and a linear head on the mean state."""
    import torch
    import torch.nn as nn

    class Transformer(nn.Module):
        def __init__(self, norm_first, d, layers):
            super().__init__()
            self.embed = nn.Embedding(8, d)
            self.position = nn.Parameter(torch.randn(12, d) * 0.1)
            layer = nn.TransformerEncoderLayer(d, 2, 2 * d, dropout=0.0, batch_first=True, norm_first=norm_first)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(d, 4)

        def forward(self, tokens):
            h = self.encoder(self.embed(tokens) + self.position[: tokens.shape[1]])
            return self.head(h.mean(dim=1))

    return Transformer(norm_first, d, layers)


def _init(model, how, scale=8.0):
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if how == "zeros":
                p.zero_()
            elif how == "constant":
                p.fill_(0.05)
            elif how == "large" and p.dim() > 1:
                p.mul_(scale)
            elif how == "dead_bias" and name.endswith("bias") and p.shape[0] != 10:
                p.fill_(-4.0)


def inputs(spec):
    """``(x_train, y_train, x_val, y_val)`` as tensors for ``spec``'s architecture."""
    import torch

    if spec["arch"] in ("rnn", "lstm", "gru", "transformer"):
        tokens, labels = data.sequences(length=spec.get("length", 12))
        split = int(0.8 * len(tokens))
        t = torch.as_tensor(tokens)
        y = torch.as_tensor(labels)
        return t[:split], y[:split], t[split:], y[split:]
    x_train, x_val, y_train, y_val = data.digits(scale=spec.get("input_scale", 1 / 16.0))
    if spec.get("random_labels"):
        y_train = np.random.default_rng(1).permutation(y_train)
    x = torch.as_tensor(x_train).reshape(len(x_train), -1)
    xv = torch.as_tensor(x_val).reshape(len(x_val), -1)
    return x, torch.as_tensor(y_train), xv, torch.as_tensor(y_val)


def optimizer(spec, params):
    import torch

    lr, wd = spec["lr"], spec.get("weight_decay", 0.0)
    kind = spec["optimizer"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if kind == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd if wd else 0.01)
    raise ValueError("unknown optimizer %r" % kind)


def train(spec, log_dir):
    """Trains ``spec`` logging into ``log_dir``; returns the measured ground truth (a dict)."""
    import torch

    import tb_nnviz.torch

    x, y, xv, yv = inputs(spec)
    model = build(spec)
    params = list(model.parameters())
    if spec.get("optimize_only") == "last":
        params = params[-2:]
    opt = optimizer(spec, params)
    sched = None
    if spec.get("schedule"):
        every, gamma = spec["schedule"]
        sched = torch.optim.lr_scheduler.StepLR(opt, every, gamma)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps, batch = spec.get("steps", 300), spec.get("batch", 32)
    rng = np.random.default_rng(0)
    initial = [p.detach().clone() for p in model.parameters()]
    losses = []
    from torch.utils.tensorboard import SummaryWriter  # after torch's optimizer: see tb_nnviz.torch

    scalars = SummaryWriter(log_dir)
    with tb_nnviz.torch.watch(model, log_dir, opt, trajectory_freq=spec.get("trajectory_freq", 10),
                              heatmap_freq=spec.get("heatmap_freq", 100)):
        for step in range(1, steps + 1):
            idx = torch.as_tensor(rng.integers(0, len(x), batch))
            xb, yb = x[idx], y[idx]
            if spec.get("spike_at") == step:  # one mislabelled, badly scaled batch: a loss spike, no bug
                xb, yb = xb * 3, torch.as_tensor(rng.integers(0, 10, batch))
            if spec.get("nan_at") == step:
                xb = xb.clone().float()
                xb[0, 0] = float("nan")
            if spec.get("zero_grad", True):
                opt.zero_grad()
            out = model(xb)
            loss = spec.get("loss_sign", 1) * loss_fn(out, yb)
            loss.backward()
            if spec.get("clip"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec["clip"])
            opt.step()
            if sched is not None:
                sched.step()
            value = float(loss.detach()) * spec.get("loss_sign", 1)
            losses.append(value)
            scalars.add_scalar("loss", value, step)
            if spec.get("log_accuracy"):
                scalars.add_scalar("accuracy", float((out.argmax(-1) == yb).float().mean()), step)
    scalars.close()
    return measure(model, spec, x, y, xv, yv, losses, initial)


def measure(model, spec, x, y, xv, yv, losses, initial):
    """Ground truth after training: accuracy, loss, NaN, dead/saturated units, weight growth."""
    import torch

    model.eval()
    hidden = []
    hooks = [m.register_forward_hook(lambda m, i, o: hidden.append((type(m).__name__, o.detach())))
             for m in model.modules() if type(m).__name__ in ("ReLU", "Sigmoid", "Tanh")]
    with torch.no_grad():
        out = model(x)
        val = model(xv)
    for h in hooks:
        h.remove()
    dead, saturated = 0.0, 0.0
    for kind, o in hidden:
        o = o.reshape(len(o), -1)
        if kind == "ReLU":
            dead = max(dead, float((o <= 0).all(dim=0).float().mean()))
        else:
            low, high = (0.03, 0.97) if kind == "Sigmoid" else (-0.97, 0.97)
            saturated = max(saturated, float(((o < low) | (o > high)).float().mean()))
    finite = [v for v in losses if math.isfinite(v)]
    head = np.mean(finite[:10]) if finite else float("nan")
    tail = np.mean(finite[-20:]) if finite else float("nan")
    growth = max(float(p.detach().norm() / max(float(q.norm()), 1e-12)) for p, q in zip(model.parameters(), initial))
    spread = min(float(p.detach().std(dim=0).mean()) for p in model.parameters() if p.dim() == 2)
    return {
        "train_accuracy": float((out.argmax(-1) == y).float().mean()),
        "val_accuracy": float((val.argmax(-1) == yv).float().mean()),
        "loss_first": float(head),
        "loss_last": float(tail),
        "nan": bool(not all(math.isfinite(v) for v in losses) or not torch.isfinite(out).all()),
        "dead_fraction": dead,
        "saturated_fraction": saturated,
        "weight_growth": growth,
        "min_unit_spread": spread,
    }
