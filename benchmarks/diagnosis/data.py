"""Small data sets the corpus trains on, all made here or shipped by a package (no download).

``digits``: scikit-learn's 8x8 digits (1,797 images, 10 classes), scaled to
[0, 1]. ``sequences``: token sequences whose label is the token at position 0,
so a recurrent model or a transformer must carry information across time.
"""

import numpy as np


def digits(scale=1 / 16.0, seed=0):
    """``(x_train, x_val, y_train, y_val)``: float32 ``[n, 8, 8]`` images times ``scale``, int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images * scale).astype(np.float32)
    return train_test_split(x, data.target.astype(np.int64), test_size=0.2, random_state=seed,
                            stratify=data.target)


def sequences(n=2048, length=12, vocab=8, classes=4, seed=0):
    """``(tokens int64 [n, length], labels int64 [n])``: the label is ``tokens[:, 0] % classes``."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(n, length))
    return tokens.astype(np.int64), (tokens[:, 0] % classes).astype(np.int64)
