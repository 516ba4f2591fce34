"""Packaging for tb-nnviz. The frontend (frontend/, TypeScript) is built by npm
into tb_nnviz/serve/static/ whenever the package is built, for `pip install .` and
`pip install -e .` alike; the build output is not kept in git."""

import os
import shutil
import subprocess

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
FRONTEND = os.path.join(HERE, "frontend")
BUNDLE = os.path.join(HERE, "tb_nnviz", "serve", "static", "index.js")


class BuildPyWithFrontend(build_py):
    """build_py that first bundles the frontend with npm (needs Node >= 20, as frontend/package.json's engines say)."""

    def run(self):
        if os.path.isdir(FRONTEND):
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("building tb-nnviz needs Node.js and npm on PATH (for the NNViz tab)")
            if not os.path.isdir(os.path.join(FRONTEND, "node_modules")):
                subprocess.check_call([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND)
            subprocess.check_call([npm, "run", "build"], cwd=FRONTEND)
        elif not os.path.exists(BUNDLE):
            raise RuntimeError("neither frontend/ sources nor a built %s" % BUNDLE)
        # Package data is listed lazily; drop any list made before the bundle existed.
        self.__dict__.pop("data_files", None)
        super().run()


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    long_description = f.read()

ANIMATE = ["matplotlib>=3.6", "Pillow>=9.1"]

TEST = ANIMATE + [
    "pytest>=8",
    "hypothesis>=6",
    "playwright>=1.40",
    "werkzeug>=2",
    "scikit-learn>=1.3",
    "tensorflow-cpu>=2.16",
    # tb_nnviz.torch and its tests (ResNet-18 from torchvision), the JAX writer test.
    "torch>=2.3",
    "numba>=0.59",
    "torchvision>=0.18",
    "jax>=0.4",
    # tests/test_spectral.py checks the spectral metrics against WeightWatcher
    # itself. Its requirements (numpy, pandas, matplotlib, powerlaw, scikit-learn,
    # safetensors, tqdm) pull in neither torch nor TensorFlow.
    "weightwatcher==0.7.7",
    # tests/test_lint.py: the linter, with the settings in pyproject.toml.
    "ruff>=0.6",
    # tb_nnviz.transformers (Trainer needs accelerate) and tb_nnviz.lightning, and their tests.
    "transformers>=4.47",
    "accelerate>=0.26",
    "lightning>=2.2",
]

setup(
    name="tb-nnviz",
    version="0.2.0",
    description="See inside a neural network while it trains: weight heatmaps and update trajectories in TensorBoard",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["tb_nnviz", "tb_nnviz.*"]),
    package_data={"tb_nnviz.serve": ["static/*"]},
    install_requires=["tensorboard>=2.14", "numpy>=1.23", "protobuf>=3.20", "google-crc32c>=1.5"],
    extras_require={
        # numba: tb_nnviz.reduce.numba_ops, one-pass CPU kernels for trajectory points (the Keras callback, watch).
        "tf": ["tensorflow-cpu>=2.16", "numba>=0.59"],
        "torch": ["torch>=2.3", "numba>=0.59"],
        # Hugging Face's Trainer (tb_nnviz.transformers) and Lightning (tb_nnviz.lightning), with tensorboard.
        "transformers": ["torch>=2.3", "numba>=0.59", "transformers>=4.47", "accelerate>=0.26"],
        "lightning": ["torch>=2.3", "numba>=0.59", "lightning>=2.2"],
        "demo": ["tensorflow-cpu>=2.16", "numba>=0.59", "scikit-learn>=1.3"],
        # tb-nnviz animate (tb_nnviz.serve.animate): frames drawn by matplotlib, the GIF written by Pillow.
        "animate": ANIMATE,
        "test": TEST,
    },
    entry_points={
        "tensorboard_plugins": ["nnviz = tb_nnviz.serve.plugin:NNVizLoader"],
        "console_scripts": ["tb-nnviz = tb_nnviz.cli:main"],
    },
    cmdclass={"build_py": BuildPyWithFrontend},
    classifiers=[
        "Framework :: TensorFlow",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
