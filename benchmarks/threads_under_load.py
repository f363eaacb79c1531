#!/usr/bin/env python3
"""Training-step time of a recipe beside a busy CPU, per torch thread count.

For each ``--threads`` value (``default``: no ``--num_threads``, so the
recipe's own choice), a fresh process loads the recipe YAML through the
recipes' :func:`speechbrain_tclap.recipe.load_recipe_hparams` (which sets and
logs the thread count), builds its training set from the prepared manifest
(``--data_folder``, e.g. the quick start's ``results/Synthetic/data``; nothing
is generated here) and times ``CLAPBrain.fit_batch`` on ``--steps`` batches
after ``--warmup`` untimed ones. Meanwhile ``--busy`` other processes each
spin one core (``while True: pass``), as another job would. Per setting it
prints the thread count chosen and the median step time.

    python benchmarks/threads_under_load.py \\
        --hparams recipes/Synthetic/CLAP/hparams/clap_minilm.yaml \\
        --data_folder results/Synthetic/data --threads 2 1 default

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def time_steps(hparams_file, data_folder, num_threads, steps, warmup):
    """In this process: median seconds of one training step of the recipe."""
    import speechbrain as sb
    import torch

    from speechbrain_tclap.brain import CLAPBrain
    from speechbrain_tclap.data.datasets import make_clap_dataset
    from speechbrain_tclap.recipe import load_recipe_hparams, train_loader_options

    argv = [hparams_file, f"--data_folder={data_folder}",
            f"--output_folder={tempfile.mkdtemp(prefix='threads_under_load_')}"]
    if num_threads != "default":
        argv.append(f"--num_threads={num_threads}")
    _, _, _, hparams = load_recipe_hparams(argv)
    train = make_clap_dataset(
        os.path.join(data_folder, "train.json"), hparams["train_sample_builder"], train=True
    )
    brain = CLAPBrain(modules=hparams["modules"], opt_class=hparams["opt_class"],
                      hparams=hparams, run_opts={"device": "cpu", "noprogressbar": True})
    loader = brain.make_dataloader(train, sb.Stage.TRAIN, **train_loader_options(hparams, train))
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    seconds = []
    for index, batch in enumerate(loader):
        start = time.perf_counter()
        brain.fit_batch(batch)
        if index >= warmup:
            seconds.append(time.perf_counter() - start)
        if len(seconds) == steps:
            break
    return {"threads": torch.get_num_threads(), "median_s": statistics.median(seconds),
            "steps_s": [round(s, 2) for s in seconds]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hparams", default="recipes/Synthetic/CLAP/hparams/clap_minilm.yaml")
    parser.add_argument("--data_folder", default="results/Synthetic/data")
    parser.add_argument("--threads", nargs="+", default=["2", "1", "default"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--busy", type=int, default=1, help="spinning processes beside the run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(time_steps(args.hparams, args.data_folder, args.child, args.steps, args.warmup)))
        return 0
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        for setting in args.threads:
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--child", setting, "--hparams", args.hparams,
                 "--data_folder", args.data_folder, "--steps", str(args.steps),
                 "--warmup", str(args.warmup)],
                check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            result = json.loads(out)
            print(f"--num_threads={setting}: {result['threads']} thread(s), median step "
                  f"{result['median_s']:.2f} s {result['steps_s']} (process "
                  f"{time.perf_counter() - start:.0f} s) beside {args.busy} busy process(es)",
                  flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
