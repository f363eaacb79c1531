#!/usr/bin/env python3
"""Train a CLAP model from scratch on generated sound events (no download).

The generator writes labelled clips of 1-3 procedural sound events with
known onsets and offsets; the recipe trains the model named in the YAML's
``model`` section, evaluates retrieval and zero-shot classification on the
held-out split, writes ``results.json`` / ``results.md`` and exports a
pretrained-interface folder.

    python recipes/Synthetic/CLAP/train.py recipes/Synthetic/CLAP/hparams/clap.yaml

Authors
 * speechbrain-tclap developers 2026
"""

import sys

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.datasets import make_clap_dataset
from speechbrain_tclap.data.manifest import manifest_paths
from speechbrain_tclap.data.temporal import PAIR_REQUIRED
from speechbrain_tclap.recipe import (
    export_experiment,
    init_weights,
    load_recipe_hparams,
    prepare_tokenizer,
    train_loader_options,
    training_captions,
    vocabulary_texts,
    write_pair_manifests,
)

from synthetic_prepare import prepare_synthetic  # beside this script


def dataio_prep(hparams, manifests, required=("id", "wav")):
    """Build the train/valid/test datasets from the generated manifests."""
    builders = {
        "train": hparams["train_sample_builder"],
        "valid": hparams["eval_sample_builder"],
        "test": hparams["eval_sample_builder"],
    }
    return {
        split: make_clap_dataset(
            manifests[split], builders[split], train=(split == "train"), required=required
        )
        for split in ("train", "valid", "test")
    }


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

    # Data preparation, once, on the main process: generated clips and
    # their manifests at <data_folder>/<split>.json.
    splits = {
        "train": hparams["num_train_clips"],
        "valid": hparams["num_valid_clips"],
        "test": hparams["num_test_clips"],
    }
    run_on_main(
        prepare_synthetic,
        kwargs={
            "data_folder": hparams["data_folder"],
            "splits": splits,
            "sample_rate": hparams["sample_rate"],
            "clip_duration": hparams["clip_seconds"],
            "n_events": (hparams["min_events"], hparams["max_events"]),
            "seed": hparams["data_seed"],
        },
    )
    manifests = manifest_paths(hparams["data_folder"], splits)

    # Data pipeline: the clips, or (TeminAL) pairs of each split's
    # single-event clips.
    if hparams.get("num_train_pairs"):
        num_pairs = {
            "train": hparams["num_train_pairs"],
            "valid": hparams["num_valid_pairs"],
            "test": hparams["num_test_pairs"],
        }
        manifests = write_pair_manifests(
            manifests, num_pairs, hparams["pair_seed"], hparams["save_folder"],
            include_singles=False,
        )
        datasets = dataio_prep(hparams, manifests, required=PAIR_REQUIRED)
    else:
        datasets = dataio_prep(hparams, manifests)

    # A from-scratch tokenizer learns every caption the recipe can write.
    labels = sorted({lab for row in datasets["train"].rows.values() for lab in row["labels"]})
    captioner = hparams.get("captioner")
    prepare_tokenizer(
        hparams["model"]["tokenizer"],
        (training_captions(datasets["train"], captioner) if captioner else [])
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
