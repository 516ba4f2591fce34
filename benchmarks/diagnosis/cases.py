"""The corpus: broken and healthy training runs, each with the causes a right diagnosis names.

Each broken case has one bug drawn from the published catalogues of training
faults, named in ``source``:

- AUTOTRAINER (Zhang et al., ICSE 2021): vanishing gradient, exploding
  gradient, dying ReLU, oscillating loss, slow convergence.
- DeepDiagnosis (Wardat et al., ICSE 2022): exploding tensor, unchanged
  weight, saturated activation, dead node, out-of-range values, loss not
  decreasing, accuracy not increasing, vanishing gradient.
- UMLAUT (Schoop et al., CHI 2021): un-normalised inputs, missing or
  doubled softmax, missing activation, learning rate too high or low, over-fitting.
- SageMaker Debugger's built-in rules: VanishingGradient, ExplodingTensor,
  WeightUpdateRatio, DeadRelu, SaturatedActivation, PoorWeightInitialization,
  LossNotDecreasing, Overfit, UnchangedTensor, AllZero.
- Karpathy, "A Recipe for Training Neural Networks" (2019): forgetting
  ``zero_grad``, softmax before a loss that applies it, un-normalised inputs,
  bad initialisation.

``accept``: finding kinds of which at least one, at warning or error, makes
the diagnosis right. ``contradict``: kinds whose advice points away from the
cause (a warning or error of one of them makes the diagnosis wrong).
``verify``: what the run's measured ground truth must show for the case to
count (a broken run really shows its pathology; a healthy run really
learns). ``short``: also run in CI (tests/test_diagnosis_corpus.py).
"""

import dataclasses
import typing

#: Kinds that name a learning rate far too high, or its direct signs.
LR_HIGH = frozenset({"lr_too_high", "early_explosion", "loss_diverged", "nonfinite", "exploding_weights"})


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    framework: str  # "torch" or "keras"
    spec: dict
    source: str
    bug: str
    accept: frozenset = frozenset()  # empty for a healthy run
    contradict: frozenset = frozenset()
    verify: typing.Callable[[dict], bool] = lambda m: True
    short: bool = False

    @property
    def healthy(self):
        return not self.accept


def _broken(name, framework, spec, source, bug, accept, verify, contradict=(), short=False):
    return Case(name, framework, spec, source, bug, frozenset(accept), frozenset(contradict), verify, short)


def _healthy(name, framework, spec, verify, short=False, source="healthy"):
    return Case(name, framework, spec, source, "none", frozenset(), frozenset(), verify, short)


def _chance(m, level=0.35):
    return m["nan"] or m["train_accuracy"] < level


MLP = {"arch": "mlp"}
SEQ = {"length": 12}

CASES = (
    # -- learning rate --------------------------------------------------------------------------
    _broken("torch_mlp_sgd_lr_high", "torch", {**MLP, "optimizer": "sgd", "lr": 3.0},
            "AUTOTRAINER exploding gradient; UMLAUT learning rate too high", "SGD at lr 3",
            LR_HIGH, _chance, contradict={"lr_too_low", "vanishing_updates"}, short=True),
    _broken("torch_mlp_adam_lr_high", "torch", {**MLP, "optimizer": "adam", "lr": 0.3},
            "UMLAUT learning rate too high", "Adam at lr 0.3",
            LR_HIGH | {"dead_units"}, _chance, contradict={"lr_too_low"}),
    _broken("torch_mlp_momentum_lr_high", "torch", {**MLP, "optimizer": "momentum", "lr": 1.0},
            "AUTOTRAINER oscillating loss", "SGD with momentum 0.9 at lr 1",
            LR_HIGH, _chance, contradict={"lr_too_low"}),
    _broken("torch_mlp_sgd_lr_low", "torch", {**MLP, "optimizer": "sgd", "lr": 1e-5},
            "AUTOTRAINER slow convergence; SageMaker WeightUpdateRatio", "SGD at lr 1e-5",
            {"lr_too_low"}, _chance, contradict={"lr_too_high"}),
    _broken("torch_mlp_adam_lr_low", "torch", {**MLP, "optimizer": "adam", "lr": 1e-7},
            "UMLAUT learning rate too low", "Adam at lr 1e-7",
            {"lr_too_low"}, _chance, contradict={"lr_too_high"}, short=True),
    _broken("torch_mlp_lr_schedule_collapse", "torch", {**MLP, "optimizer": "sgd", "lr": 0.05, "schedule": (15, 0.1)},
            "DeepDiagnosis loss not decreasing", "StepLR divides the learning rate by 10 every 15 steps",
            {"lr_too_low", "updates_stopped", "loss_plateau"}, _chance, contradict={"lr_too_high"}),
    _broken("torch_cnn_lr_high", "torch", {"arch": "cnn", "optimizer": "sgd", "lr": 3.0},
            "AUTOTRAINER exploding gradient", "CNN, SGD at lr 3",
            LR_HIGH, _chance, contradict={"lr_too_low", "vanishing_updates"}),
    _broken("torch_cnn_lr_low", "torch", {"arch": "cnn", "optimizer": "adam", "lr": 1e-7},
            "AUTOTRAINER slow convergence", "CNN, Adam at lr 1e-7",
            {"lr_too_low"}, _chance, contradict={"lr_too_high"}),
    _broken("torch_lstm_lr_high", "torch", {**SEQ, "arch": "lstm", "optimizer": "sgd", "lr": 30.0},
            "AUTOTRAINER oscillating loss", "LSTM, SGD at lr 30",
            LR_HIGH | {"loss_rising"}, lambda m: _chance(m, 0.4), contradict={"lr_too_low", "vanishing_updates"}),
    _broken("torch_lstm_lr_low", "torch", {**SEQ, "arch": "lstm", "optimizer": "adam", "lr": 1e-7},
            "UMLAUT learning rate too low", "LSTM, Adam at lr 1e-7",
            {"lr_too_low"}, lambda m: _chance(m, 0.4), contradict={"lr_too_high"}),
    _broken("torch_transformer_postln_lr_high", "torch",
            {**SEQ, "arch": "transformer", "norm_first": False, "optimizer": "adam", "lr": 0.05},
            "AUTOTRAINER exploding gradient (post-LN without warm-up)", "post-LN encoder, Adam at lr 0.05, no warm-up",
            LR_HIGH | {"loss_plateau"}, lambda m: _chance(m, 0.4), contradict={"lr_too_low", "vanishing_updates"}),
    _broken("torch_transformer_lr_low", "torch", {**SEQ, "arch": "transformer", "optimizer": "adam", "lr": 1e-7},
            "UMLAUT learning rate too low", "encoder, Adam at lr 1e-7",
            {"lr_too_low"}, lambda m: _chance(m, 0.4), contradict={"lr_too_high"}),
    _broken("keras_mlp_lr_high", "keras", {**MLP, "optimizer": "adam", "lr": 1.0, "epochs": 6},
            "UMLAUT learning rate too high", "Keras MLP, Adam at lr 1",
            LR_HIGH | {"dead_units"}, _chance, contradict={"lr_too_low"}),
    _broken("keras_mlp_lr_low", "keras", {**MLP, "optimizer": "sgd", "lr": 1e-5, "epochs": 4},
            "SageMaker WeightUpdateRatio", "Keras MLP, SGD at lr 1e-5",
            {"lr_too_low"}, _chance, contradict={"lr_too_high"}),
    # -- initialisation -------------------------------------------------------------------------
    _broken("torch_mlp_zero_init", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3, "init": "zeros"},
            "SageMaker PoorWeightInitialization, AllZero", "every weight and bias initialised to 0",
            {"symmetric_units"}, lambda m: m["min_unit_spread"] < 1e-5, contradict={"lr_too_high"}, short=True),
    _broken("torch_mlp_constant_init", "torch", {**MLP, "optimizer": "sgd", "lr": 0.1, "init": "constant"},
            "SageMaker PoorWeightInitialization", "every weight initialised to 0.05",
            {"symmetric_units"}, lambda m: m["min_unit_spread"] < 1e-5, contradict={"lr_too_high"}),
    _broken("keras_mlp_zero_init", "keras", {**MLP, "optimizer": "adam", "lr": 1e-3, "init": "zeros", "epochs": 4},
            "SageMaker AllZero", "Keras kernels initialised to 0",
            {"symmetric_units"}, _chance, contradict={"lr_too_high"}, short=True),
    _broken("torch_mlp_large_init", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3, "init": "large",
                                             "init_scale": 30.0},
            "SageMaker PoorWeightInitialization", "weights 30x their default scale",
            {"poor_initialization"}, lambda m: _chance(m, 0.6), contradict={"lr_too_high"}),
    _broken("torch_tanh_large_init", "torch", {**MLP, "act": "tanh", "depth": 4, "optimizer": "sgd", "lr": 0.01,
                                               "init": "large"},
            "DeepDiagnosis saturated activation; SageMaker SaturatedActivation", "tanh MLP, weights 8x default",
            {"saturated_units", "poor_initialization"}, lambda m: m["saturated_fraction"] > 0.5,
            contradict={"lr_too_high"}),
    # -- dead and saturated units, vanishing -----------------------------------------------------
    _broken("torch_mlp_dead_bias", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3, "init": "dead_bias"},
            "AUTOTRAINER dying ReLU; SageMaker DeadRelu", "hidden biases initialised to -4",
            {"dead_units"}, lambda m: m["dead_fraction"] > 0.5, contradict={"lr_too_low"}, short=True),
    _broken("torch_mlp_momentum_dead", "torch", {**MLP, "optimizer": "momentum", "lr": 0.5},
            "AUTOTRAINER dying ReLU", "SGD with momentum at lr 0.5 kills the ReLUs",
            {"dead_units"} | LR_HIGH, lambda m: m["dead_fraction"] > 0.5, contradict={"lr_too_low"}),
    _broken("torch_cnn_dead_bias", "torch", {"arch": "cnn", "optimizer": "adam", "lr": 1e-3, "init": "dead_bias"},
            "DeepDiagnosis dead node", "CNN, conv biases initialised to -4",
            {"dead_units"}, lambda m: m["dead_fraction"] > 0.5, contradict={"lr_too_low"}),
    _broken("torch_deep_sigmoid", "torch", {**MLP, "act": "sigmoid", "depth": 8, "optimizer": "sgd", "lr": 0.1},
            "AUTOTRAINER vanishing gradient; SageMaker VanishingGradient", "8 sigmoid layers, plain SGD",
            {"vanishing_updates", "vanishing_gradients", "saturated_units"}, _chance, contradict={"lr_too_high"}),
    _broken("keras_deep_sigmoid", "keras", {**MLP, "act": "sigmoid", "depth": 8, "optimizer": "sgd", "lr": 0.1,
                                            "epochs": 3},
            "DeepDiagnosis vanishing gradient", "Keras, 8 sigmoid layers, plain SGD",
            {"vanishing_updates", "vanishing_gradients", "saturated_units"}, _chance, contradict={"lr_too_high"}),
    _broken("torch_rnn_long_vanishing", "torch", {"length": 60, "arch": "rnn", "optimizer": "sgd", "lr": 0.01},
            "AUTOTRAINER vanishing gradient", "vanilla RNN that must remember the first of 60 tokens",
            {"vanishing_updates", "vanishing_gradients", "loss_plateau", "lr_too_low"}, lambda m: _chance(m, 0.4),
            contradict={"lr_too_high"}),
    _broken("torch_rnn_relu_exploding", "torch", {"length": 40, "arch": "rnn", "act": "relu", "optimizer": "sgd",
                                                  "lr": 0.5},
            "AUTOTRAINER exploding gradient; SageMaker ExplodingTensor", "ReLU RNN over 40 steps, SGD at lr 0.5",
            LR_HIGH | {"exploding_gradients"}, lambda m: _chance(m, 0.4), contradict={"lr_too_low"}),
    # -- the loop --------------------------------------------------------------------------------
    _broken("torch_mlp_no_zero_grad", "torch", {**MLP, "optimizer": "sgd", "lr": 0.01, "zero_grad": False},
            "Karpathy's recipe: forgetting zero_grad", "optimizer.zero_grad() never called",
            {"gradients_accumulating"}, lambda m: m["nan"] or m["weight_growth"] > 3, short=True),
    _broken("torch_mlp_momentum_no_zero_grad", "torch",
            {**MLP, "optimizer": "momentum", "lr": 0.001, "zero_grad": False},
            "Karpathy's recipe: forgetting zero_grad", "zero_grad never called, SGD with momentum",
            {"gradients_accumulating"}, lambda m: m["nan"] or m["weight_growth"] > 3),
    _broken("torch_mlp_gradient_ascent", "torch", {**MLP, "optimizer": "sgd", "lr": 0.05, "loss_sign": -1},
            "DeepDiagnosis loss not decreasing", "the loss's sign flipped: gradient ascent",
            {"loss_rising", "loss_diverged"}, lambda m: m["nan"] or m["loss_last"] > 2 * m["loss_first"]),
    _broken("torch_mlp_nan_input", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3, "nan_at": 150},
            "DeepDiagnosis exploding tensor / out-of-range; SageMaker ExplodingTensor", "a NaN in one batch's input",
            {"nonfinite"}, lambda m: m["nan"], short=True),
    _broken("torch_mlp_frozen_by_optimizer", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3,
                                                       "optimize_only": "last"},
            "DeepDiagnosis unchanged weight; SageMaker UnchangedTensor",
            "the optimizer was given only the last layer's parameters",
            {"updates_stopped", "unchanged_weights"}, lambda m: True),
    _broken("torch_mlp_weight_decay_huge", "torch", {**MLP, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 100.0},
            "SageMaker PoorWeightInitialization / UMLAUT regularisation", "AdamW with weight decay 100",
            {"weights_shrinking"}, _chance, contradict={"lr_too_high", "lr_too_low"}),
    # -- data and structure ----------------------------------------------------------------------
    _broken("torch_mlp_unnormalized", "torch", {**MLP, "optimizer": "sgd", "lr": 0.05, "input_scale": 16.0},
            "UMLAUT un-normalised inputs; Karpathy's recipe", "pixels 0-256 instead of 0-1",
            {"unnormalized_inputs"}, _chance, short=True),
    _broken("keras_mlp_unnormalized", "keras", {**MLP, "optimizer": "sgd", "lr": 0.01, "input_scale": 16.0,
                                                "epochs": 4},
            "UMLAUT un-normalised inputs", "Keras, pixels 0-256 instead of 0-1",
            {"unnormalized_inputs"}, _chance),
    _broken("torch_mlp_no_activation", "torch", {**MLP, "act": "none", "depth": 3, "optimizer": "adam", "lr": 1e-3},
            "UMLAUT missing activation", "three Linear layers with no non-linearity between them",
            {"missing_nonlinearity"}, lambda m: True),
    _broken("torch_mlp_softmax_then_ce", "torch", {**MLP, "optimizer": "sgd", "lr": 0.1, "softmax_output": True},
            "UMLAUT double softmax; Karpathy's recipe", "nn.Softmax output fed to CrossEntropyLoss",
            {"double_softmax"}, lambda m: m["train_accuracy"] < 0.9),
    # Under the torch backend: Keras' TensorFlow backend takes a softmax's input as the logits
    # when from_logits=True (with a warning), so there the run trains as if the softmax were not there.
    _broken("keras_double_softmax", "keras", {**MLP, "optimizer": "adam", "lr": 1e-3, "from_logits": True,
                                              "epochs": 4, "backend": "torch"},
            "UMLAUT double softmax", "softmax output compiled with from_logits=True (torch backend)",
            # The loss cannot approach 0: softmax of probabilities in [0, 1] gives at least log(1 + 9/e) = 1.46.
            {"double_softmax"}, lambda m: m["loss_last"] > 1.0),
    _broken("torch_mlp_random_labels", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3, "random_labels": True},
            "DeepDiagnosis accuracy not increasing; SageMaker LossNotDecreasing", "labels shuffled against images",
            {"loss_plateau", "underfitting"}, lambda m: m["train_accuracy"] < 0.4, contradict={"lr_too_high"}),
    _broken("keras_overfit", "keras", {**MLP, "width": 512, "optimizer": "adam", "lr": 1e-3, "train_samples": 150,
                                       "epochs": 40},
            "SageMaker Overfit, Overtraining", "a 512-512 MLP on 150 images for 40 epochs",
            {"overfitting"}, lambda m: m["val_loss_last"] > 1.1 * m["val_loss_min"]),
    # -- healthy ---------------------------------------------------------------------------------
    _healthy("torch_mlp_adam", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3},
             lambda m: m["train_accuracy"] > 0.85, short=True),
    _healthy("torch_mlp_sgd", "torch", {**MLP, "optimizer": "sgd", "lr": 0.1, "log_accuracy": True},
             lambda m: m["train_accuracy"] > 0.85),
    _healthy("torch_mlp_momentum", "torch", {**MLP, "optimizer": "momentum", "lr": 0.02},
             lambda m: m["train_accuracy"] > 0.85),
    _healthy("torch_mlp_tanh", "torch", {**MLP, "act": "tanh", "optimizer": "adam", "lr": 1e-3},
             lambda m: m["train_accuracy"] > 0.85),
    _healthy("torch_mlp_noisy_batch", "torch", {**MLP, "optimizer": "adam", "lr": 1e-3, "spike_at": 150},
             lambda m: m["train_accuracy"] > 0.85),
    _healthy("torch_cnn_adam", "torch", {"arch": "cnn", "optimizer": "adam", "lr": 3e-3},
             lambda m: m["train_accuracy"] > 0.85),
    _healthy("torch_lstm_adam", "torch", {**SEQ, "arch": "lstm", "optimizer": "adam", "lr": 1e-2},
             lambda m: m["train_accuracy"] > 0.6),
    _healthy("torch_gru_adam", "torch", {**SEQ, "arch": "gru", "optimizer": "adam", "lr": 1e-2},
             lambda m: m["train_accuracy"] > 0.6),
    _healthy("torch_transformer_adamw", "torch", {**SEQ, "arch": "transformer", "optimizer": "adamw", "lr": 3e-3},
             lambda m: m["train_accuracy"] > 0.6),
    _healthy("keras_mlp_adam", "keras", {**MLP, "optimizer": "adam", "lr": 1e-3, "epochs": 6},
             lambda m: m["train_accuracy"] > 0.85, short=True),
    _healthy("keras_cnn_adam", "keras", {"arch": "cnn", "optimizer": "adam", "lr": 3e-3, "epochs": 6},
             lambda m: m["train_accuracy"] > 0.85),
    _healthy("keras_mlp_momentum", "keras", {**MLP, "optimizer": "momentum", "lr": 0.02, "epochs": 6},
             lambda m: m["train_accuracy"] > 0.85),
)

BY_NAME = {c.name: c for c in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"
