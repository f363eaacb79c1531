#!/usr/bin/env python3
"""CLAP vs T-CLAP from scratch on ESC-50 / ESC-10, evaluated on a held-out fold.

Each split holds its single clips (captions "the sound of <class>") plus
seeded pairs of its own clips synthesised as "A then B" (so no source clip is
in two splits). Evaluation reports retrieval, single-clip zero-shot accuracy
and T-Classify (binary and N-way) on the test fold's clips and pairs, writes
``results.json`` / ``results.md`` and exports a pretrained-interface folder.

    python recipes/ESC50/CLAP/train.py recipes/ESC50/CLAP/hparams/tclap.yaml \\
        --data_folder=/path/to/ESC-50   # or ../shared/data/esc10

Authors
 * speechbrain-tclap developers 2026
"""

import sys

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.datasets import make_clap_dataset
from speechbrain_tclap.data.manifest import load_manifest, manifest_paths
from speechbrain_tclap.recipe import (
    export_experiment,
    init_weights,
    load_recipe_hparams,
    prepare_tokenizer,
    split_classes,
    train_loader_options,
    training_set,
    vocabulary_texts,
    write_pair_manifests,
)

from esc50_prepare import prepare_esc50  # beside this script


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


def dataio_prep(hparams, manifests):
    """The train / valid / test datasets of the mixed manifests."""
    datasets = {
        split: make_clap_dataset(
            manifests[split], hparams["eval_sample_builder"], train=False, required=("id",)
        )
        for split in ("valid", "test")
    }
    # YAML train_shards: the same rows streamed from tar shards instead.
    datasets["train"] = training_set(hparams, manifests["train"], required=("id",))
    return datasets


if __name__ == "__main__":
    # Command line, DDP group and hyperparameters; the experiment folder.
    hparams_file, run_opts, overrides, hparams = load_recipe_hparams(sys.argv[1:])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    # Initial weights (YAML init_weights), before the tokenizer step: a loaded
    # tokenizer is not trained again.
    init_weights(hparams)

    # Data preparation, once, on the main process: fold-disjoint manifests
    # at <prepared_folder>/<split>.json for the splits that have folds.
    folds = {
        "train": hparams["train_folds"],
        "valid": hparams["valid_folds"],
        "test": hparams["test_folds"],
    }
    run_on_main(
        prepare_esc50,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["prepared_folder"],
            "train_folds": folds["train"],
            "valid_folds": folds["valid"],
            "test_folds": folds["test"],
            "esc10_only": hparams["esc10_only"],
        },
    )
    manifests = manifest_paths(
        hparams["prepared_folder"], [split for split, chosen in folds.items() if chosen]
    )
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

    # Data pipeline: single clips and pairs, with their sample builders.
    datasets = dataio_prep(hparams, mixed)

    # A from-scratch tokenizer learns every caption the recipe can write.
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

    # The Brain.
    clap_brain = CLAPBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )

    # Training; the learning-rate schedule is sized from the training loader.
    clap_brain.fit(
        clap_brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=train_loader_options(hparams, datasets["train"]),
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )

    # Test on the checkpoint named by test_checkpoint (best valid_metric or last).
    clap_brain.evaluate(
        datasets["test"],
        test_loader_kwargs=hparams["valid_dataloader_opts"],
        **clap_brain.test_checkpoint_keys(),
    )

    # Validation curves and a pretrained-interface folder of that checkpoint.
    export_experiment(hparams, hparams_file)
