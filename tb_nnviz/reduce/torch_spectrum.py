"""``tb_nnviz.reduce.spectrum.eigenvalues`` as PyTorch ops over a stack of same-shaped tensors.

The twin of ``tb_nnviz.reduce.tf_spectrum``, for the PyTorch logger: the eigenvalues
of the smaller float64 Gram matrix by ``torch.linalg.eigvalsh``, batched over
every matrix of the stack, on the tensors' device. To log spectra, a logger
builds its ``logplan.LogPlan`` with ``spectra=True`` and passes, per entry of
``plan.spec_groups``, ``eigenvalues(stack, plan.spec[group[0]]).cpu().numpy()``
as ``plan.write(..., spectra=[...])``.

>>> import numpy as np, torch
>>> from tb_nnviz.reduce import spectrum
>>> content = spectrum.spectrum_content("conv", (8, 2, 3, 3), "float32", "conv_first")
>>> xs = np.random.default_rng(0).normal(size=(2, 8, 2, 3, 3))
>>> got = eigenvalues(torch.tensor(xs), content).numpy()
>>> got.shape, np.allclose(got[1], spectrum.eigenvalues(xs[1], content), rtol=1e-5)
((2, 9, 2), True)
"""

import torch


def eigenvalues(x, content):
    """float32 ``[G, slices, evals]``: ``spectrum.eigenvalues`` of each tensor of ``x`` ``[G, *shape]``.

    ``content`` is the (not skipped) spectrum content shared by the stack; a
    matrix holding NaN or +/-Inf gets NaN eigenvalues, as in the reference.
    """
    (rows, cols), evals = content["matrix"], content["evals"]
    w = x.permute([0] + [1 + a for a in content["perm"]]).reshape(-1, rows, cols).to(torch.float64)
    finite = torch.isfinite(w).all(dim=2).all(dim=1)
    w = torch.where(finite[:, None, None], w, torch.zeros_like(w))
    gram = w.mT @ w if rows >= cols else w @ w.mT
    values = torch.linalg.eigvalsh(gram).flip(-1).clamp_min(0.0)  # largest first
    values = torch.where(finite[:, None], values, torch.full_like(values, float("nan")))
    return values.reshape(-1, content["slices"], evals).to(torch.float32)
