#!/usr/bin/env python3
"""T-CLAP (or CLAP) fine-tuning of a LAION-CLAP checkpoint on AudioCaps.

Prepares the official CSVs + audio (``audiocaps_prepare.py``), loads the
LAION checkpoint named in YAML, fine-tunes on train, selects on val and
tests on the official test split (retrieval, T-Classify on its captions),
then exports a pretrained-interface folder. The Clotho recipe runs the same
steps on its corpus.

    python recipes/AudioCaps/CLAP/train.py \\
        recipes/AudioCaps/CLAP/hparams/tclap_finetune.yaml \\
        --data_folder=/path/to/audiocaps --init_weights=/path/to/laion.pt \\
        --tokenizer_folder=/path/to/roberta_tokenizer_folder

Authors
 * speechbrain-tclap developers 2026
"""

import sys

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.manifest import manifest_paths
from speechbrain_tclap.recipe import (
    caption_datasets,
    check_finetuning_inputs,
    export_experiment,
    init_weights,
    load_recipe_hparams,
    train_loader_options,
)

from audiocaps_prepare import prepare_audiocaps  # beside this script

if __name__ == "__main__":
    # Command line, DDP group and hyperparameters; the experiment folder.
    hparams_file, run_opts, overrides, hparams = load_recipe_hparams(sys.argv[1:])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    # The starting checkpoint and the tokenizer files, before any data work;
    # then the weights (YAML init_weights: the Pretrainer hook converts LAION's
    # layout, loads strictly and logs what it renamed and dropped).
    check_finetuning_inputs(hparams, hparams_file)
    init_weights(hparams)

    # Data preparation, once, on the main process: a manifest per corpus
    # split at <prepared_folder>/<split>.json (splits: recipe role -> split).
    splits = hparams["splits"]
    run_on_main(
        prepare_audiocaps,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["prepared_folder"],
            "splits": list(splits.values()),
            "skip_prep": hparams["skip_prep"],
            **(hparams["prepare_options"] or {}),
        },
    )
    manifests = manifest_paths(hparams["prepared_folder"], splits.values())

    # Data pipeline: clips with their captions (and order-swapped negatives).
    datasets = caption_datasets(hparams, manifests)

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
