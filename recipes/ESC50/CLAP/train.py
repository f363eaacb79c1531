#!/usr/bin/env python3
"""CLAP vs T-CLAP from scratch on ESC-50 / ESC-10, evaluated on a held-out fold.

Each split holds its single clips (captions "the sound of <class>") plus
seeded pairs of its own clips synthesised as "A then B" (so no source clip is
in two splits). Evaluation reports retrieval, single-clip zero-shot accuracy
and T-Classify (binary and N-way) on the test fold's clips and pairs.

    python recipes/ESC50/CLAP/train.py recipes/ESC50/CLAP/hparams/tclap.yaml \\
        --data_folder=/path/to/ESC-50   # or ../shared/data/esc10

Authors
 * speechbrain-tclap developers 2026
"""

import os
import sys

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main

from speechbrain_tclap.data.datasets import make_clap_dataset
from speechbrain_tclap.data.manifest import load_manifest, write_manifest
from speechbrain_tclap.data.temporal import make_pair_rows
from speechbrain_tclap.recipe import (
    load_recipe_hparams,
    prepare_tokenizer,
    run_clap_experiment,
    zero_shot_prompts,
)

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from esc50_prepare import prepare_esc50  # noqa: E402


def write_mixed_manifests(hparams, manifests):
    """Per split: the split's single clips plus pairs drawn from them."""
    num_pairs = {
        "train": hparams["num_train_pairs"],
        "valid": hparams["num_valid_pairs"],
        "test": hparams["num_test_pairs"],
    }
    out = {}
    for offset, (split, path) in enumerate(sorted(manifests.items())):
        singles = load_manifest(path, required=("id", "wav"))
        pairs = make_pair_rows(
            list(singles.values()), num_pairs[split], seed=hparams["pair_seed"] + offset
        )
        rows = {**singles, **{p["id"]: p for p in pairs}}
        out[split] = os.path.join(hparams["save_folder"], f"{split}_mixed.json")
        write_manifest(rows, out[split])
    return out


if __name__ == "__main__":
    hparams_file, run_opts, overrides, hparams = load_recipe_hparams(sys.argv[1:])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    prepare_kwargs = {
        "data_folder": hparams["data_folder"],
        "save_folder": hparams["prepared_folder"],
        "train_folds": hparams["train_folds"],
        "valid_folds": hparams["valid_folds"],
        "test_folds": hparams["test_folds"],
        "esc10_only": hparams["esc10_only"],
    }
    run_on_main(prepare_esc50, kwargs=prepare_kwargs)
    manifests = prepare_esc50(**prepare_kwargs)
    mixed = write_mixed_manifests(hparams, manifests)
    datasets = {
        split: make_clap_dataset(
            mixed[split],
            hparams["train_sample_builder" if split == "train" else "eval_sample_builder"],
            train=(split == "train"),
            required=("id",),
        )
        for split in ("train", "valid", "test")
    }
    singles = [r for r in datasets["train"].rows.values() if "wav" in r]
    labels = sorted({lab for row in singles for lab in row["labels"]})
    pair_builder = hparams["pair_builder"]
    # Every caption the pair builder can write (both orders, every template),
    # without reading audio.
    pair_captions = [
        caption
        for template in pair_builder.templates
        for a in labels
        for b in labels
        if a != b
        for caption in pair_builder.captions(a, b, template)
    ]
    prepare_tokenizer(
        hparams["model"]["tokenizer"],
        [row["caption"] for row in singles]
        + pair_captions
        + zero_shot_prompts(labels, hparams["zero_shot_template"]),
        hparams["save_folder"],
        hparams["model"]["tokenizer_vocab_size"],
    )
    run_clap_experiment(hparams, run_opts, datasets, hparams_file)
