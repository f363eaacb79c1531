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
from speechbrain_tclap.data.manifest import load_manifest
from speechbrain_tclap.recipe import (
    init_model_from,
    load_recipe_hparams,
    prepare_tokenizer,
    run_clap_experiment,
    split_classes,
    vocabulary_texts,
    write_pair_manifests,
)

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from esc50_prepare import prepare_esc50  # noqa: E402


def write_mixed_manifests(hparams, manifests):
    """Per split: pairs drawn from the split's clips, plus the clips themselves
    unless ``include_single_clips`` is False (TeminAL trains on pairs only);
    ``single_clip_repeats`` copies of each training clip."""
    num_pairs = {
        "train": hparams["num_train_pairs"],
        "valid": hparams["num_valid_pairs"],
        "test": hparams["num_test_pairs"],
    }
    return write_pair_manifests(
        manifests,
        num_pairs,
        hparams["pair_seed"],
        hparams["save_folder"],
        include_singles=hparams.get("include_single_clips", True),
        single_repeats={"train": hparams.get("single_clip_repeats", 1)},
    )


if __name__ == "__main__":
    hparams_file, run_opts, overrides, hparams = load_recipe_hparams(sys.argv[1:])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    # Before the tokenizer step: a loaded tokenizer is not trained again.
    init_model_from(hparams)
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
    if hparams.get("train_classes"):
        # Class-disjoint zero-shot: train on some classes, test on the clips
        # of the others among every label of the data.
        all_labels = sorted({
            label for path in manifests.values()
            for row in load_manifest(path).values() for label in row["labels"]
        })
        manifests = split_classes(manifests, hparams["train_classes"], hparams["save_folder"])
        hparams["zero_shot_classes"] = hparams.get("zero_shot_classes") or all_labels
    mixed = write_mixed_manifests(hparams, manifests)
    if "valid" not in mixed:
        # No validation fold (ESC-10 here has folds 1-4 only: train 1-3, test
        # 4). The test split's curves are logged for monitoring, and the last
        # checkpoint is tested: nothing is chosen on the test fold.
        if hparams.get("test_checkpoint", "best") != "last":
            raise ValueError(
                "valid_folds is empty: set test_checkpoint: last (the test "
                "fold may be monitored but must not select the checkpoint)"
            )
        mixed["valid"] = mixed["test"]
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
    labels = sorted({lab for row in datasets["train"].rows.values() for lab in row["labels"]})
    prepare_tokenizer(
        hparams["model"]["tokenizer"],
        [row["caption"] for row in singles]
        # Every caption the pair builder can write, without reading audio.
        + hparams["pair_builder"].all_captions(labels)
        + vocabulary_texts(hparams, labels),
        hparams["save_folder"],
        hparams["model"].get("tokenizer_vocab_size"),
    )
    run_clap_experiment(hparams, run_opts, datasets, hparams_file)
