#!/usr/bin/env python3
"""Multi-task pretraining of an audio encoder (MS-CLAP 2023's HTSAT-22 path).

Prepares the manifests of the YAML's tasks (ESC-50 / ESC-10 by fold, FSDD
by its split, generated sound events: ``multitask_prepare.py``), trains the
shared encoder and one head per task with tasks drawn per batch by weight,
reports per-task validation metrics of the best checkpoint
(``results.json``, ``results.md``) and exports the encoder to
``<output_folder>/encoder/audio_encoder.ckpt`` for a CLAP recipe's
``init_weights`` (``into: clap.audio_encoder``).

    python recipes/MultiTask/Encoder/train.py \\
        recipes/MultiTask/Encoder/hparams/htsat_multitask.yaml \\
        --data_folder=../shared/data   # holds esc10/ and fsdd/

Authors
 * speechbrain-tclap developers 2026
"""

import sys

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main

from speechbrain_tclap.multitask import (
    MultiTaskBrain,
    add_task_heads,
    make_multitask_dataset,
    task_loader_options,
)
from speechbrain_tclap.recipe import load_recipe_hparams

from multitask_prepare import prepare_multitask  # beside this script

if __name__ == "__main__":
    # Command line, DDP group and hyperparameters; the experiment folder.
    hparams_file, run_opts, overrides, hparams = load_recipe_hparams(sys.argv[1:])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )

    # Data preparation, once, on the main process: every task's manifests,
    # at the paths the YAML's tasks read.
    run_on_main(
        prepare_multitask,
        kwargs={
            "save_folder": hparams["prepared_folder"],
            "esc50_folder": hparams["esc50_folder"],
            "fsdd_folder": hparams["fsdd_folder"],
            "synthetic_folder": hparams["synthetic_folder"],
            "esc_train_folds": hparams["esc_train_folds"],
            "esc_valid_folds": hparams["esc_valid_folds"],
            "esc10_only": hparams["esc10_only"],
            "synthetic_splits": {
                "train": hparams["num_synthetic_train"],
                "valid": hparams["num_synthetic_valid"],
            },
            "sample_rate": hparams["sample_rate"],
            "clip_duration": hparams["clip_seconds"],
            "n_events": (hparams["min_events"], hparams["max_events"]),
            "synthetic_seed": hparams["synthetic_seed"],
        },
    )

    # Data pipeline: one dataset per split over every task's clips. The
    # training set first: it fits each task's classes and target statistics.
    tasks = hparams["tasks"]
    datasets = {
        "train": make_multitask_dataset(
            tasks, "train", hparams["train_sample_builder"], train=True
        ),
        "valid": make_multitask_dataset(
            tasks, "valid", hparams["eval_sample_builder"], train=False
        ),
    }

    # The model: the shared encoder with one head per task.
    model = hparams["multitask_model"]
    add_task_heads(model, tasks, datasets["train"])
    brain = MultiTaskBrain(
        modules={"model": model},
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )

    # Training: every batch holds one task, drawn by its weight; the
    # learning-rate schedule is sized from this loader (steps x epochs).
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=task_loader_options(hparams, datasets["train"], train=True),
        valid_loader_kwargs=task_loader_options(hparams, datasets["valid"], train=False),
    )

    # Evaluation of the best checkpoint (valid_metric) on the validation
    # sets: there is no test set, the encoder is the product.
    brain.evaluate(
        datasets["valid"],
        test_loader_kwargs=task_loader_options(hparams, datasets["valid"], train=False),
        **brain.test_checkpoint_keys(),
    )

    # The encoder of that checkpoint, for a CLAP recipe's init_weights.
    brain.export_encoder(hparams_file)
