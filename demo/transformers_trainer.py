"""A small BERT trained by Hugging Face's ``Trainer``, logged by ``tb_nnviz.transformers.NNVizCallback``.

Nothing is downloaded: the model is built from a config with random weights
(2 layers, width 64) and the data is generated, token sequences labelled by
whether they hold more small tokens (< 50) than large ones. ``Trainer`` with
``report_to="tensorboard"`` writes its loss curves into
``<logdir>/runs/<date>_<host>`` (``output_dir`` is ``--logdir`` here, no
checkpoints); the callback adds the weights, their updates and gradients to
that same run, one step per optimizer step (here 2 accumulated batches).

    python demo/transformers_trainer.py
    tensorboard --logdir logs/transformers_trainer    # then open the NNViz tab

``--smoke`` trains on a few batches (what the tests run).
"""

import argparse

import torch
import transformers

from tb_nnviz.transformers import NNVizCallback


class Tokens(torch.utils.data.Dataset):
    """``n`` random sequences of ``length`` tokens; label 1 when most tokens are below ``vocab // 2``."""

    def __init__(self, n, length=16, vocab=100, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, vocab, (n, length), generator=gen)
        self.labels = ((self.ids < vocab // 2).sum(1) > length // 2).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/transformers_trainer")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a few batches only")
    args = parser.parse_args(argv)

    samples, freq = (128, 2) if args.smoke else (2048, 10)
    if args.smoke:
        args.epochs = 2
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=128, max_position_embeddings=32)
    model = transformers.BertForSequenceClassification(config)
    training = transformers.TrainingArguments(
        output_dir=args.logdir, report_to="tensorboard", logging_steps=freq, save_strategy="no",
        per_device_train_batch_size=16, gradient_accumulation_steps=2, num_train_epochs=args.epochs,
        learning_rate=1e-3, use_cpu=True, seed=0,
    )
    nnviz = NNVizCallback(trajectory_freq=freq, heatmap_freq=10 * freq)  # steps = optimizer steps
    trainer = transformers.Trainer(model, training, train_dataset=Tokens(samples), callbacks=[nnviz])
    trainer.train()
    if trainer.is_world_process_zero():
        print("NNViz and Trainer's scalars are in %s" % nnviz.log_dir)
        print("tensorboard --logdir %s" % args.logdir)


if __name__ == "__main__":
    main()
