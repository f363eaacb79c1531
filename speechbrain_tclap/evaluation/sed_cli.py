"""Command line of zero-shot SED and grounding of a pretrained model.

``speechbrain-tclap sed --model <name, pretrained folder or hyperparams.yaml>
--manifest <clips with events> --output_folder <dir>`` (or ``python -m
speechbrain_tclap.evaluation.sed_cli``) runs
:class:`speechbrain_tclap.evaluation.sed.FrameEventEvaluator` on one manifest.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os
from typing import Dict, Optional, Sequence

from speechbrain_tclap.evaluation.cli import evaluation_parser, load_model
from speechbrain_tclap.events import SCORE_NORMALIZATIONS


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Zero-shot SED and grounding of a pretrained model, from the command line.

    The manifest's rows carry ``events`` (label, onset, offset), e.g. the
    synthetic recipe's ``test.json``; writes ``sed.json`` (metrics and
    chance levels) and a few pictures into ``--output_folder``.

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The metrics.
    """
    parser = evaluation_parser(
        "Zero-shot SED and grounding of a CLAP model.",
        "JSON manifest with events per row",
        prog="speechbrain-tclap sed",
    )
    parser.add_argument("--template", default="{}")
    parser.add_argument("--median_window", type=int, default=3)
    parser.add_argument("--num_thresholds", type=int, default=50)
    parser.add_argument("--num_plots", type=int, default=4)
    parser.add_argument("--no_psds", action="store_true", help="skip PSDS (slow on large sets)")
    parser.add_argument("--score_normalization", default="none", choices=SCORE_NORMALIZATIONS,
                        help="prompt_mean: subtract each frame's mean score over the prompts")
    args = parser.parse_args(argv)
    import torch  # after parsing: --help imports no torch

    from speechbrain_tclap.data.datasets import ClipSampleBuilder, EventCaptioner
    from speechbrain_tclap.evaluation.sed import FrameEventEvaluator

    interface = load_model(args)
    model = interface.mods.clap.eval()
    builder = ClipSampleBuilder(
        sample_rate=interface.sample_rate,
        clip_seconds=model.clip_seconds,
        captioner=EventCaptioner(style="ordered"),
        eval_crop="left",
        pad="zero",
        resample=True,
    )
    evaluator = FrameEventEvaluator(
        {"test": args.manifest},
        builder,
        template=args.template,
        median_window=args.median_window,
        num_thresholds=args.num_thresholds,
        psds_stages=() if args.no_psds else ("TEST",),
        num_plots=args.num_plots,
        score_normalization=args.score_normalization,
    )
    with torch.no_grad():
        metrics = evaluator.evaluate_model(model, "TEST", args.output_folder)
    chance = evaluator.chance_levels(metrics)
    os.makedirs(args.output_folder, exist_ok=True)
    with open(os.path.join(args.output_folder, "sed.json"), "w") as f:
        json.dump({"metrics": metrics, "chance": chance, "model": args.model,
                   "manifest": args.manifest,
                   "score_normalization": args.score_normalization}, f, indent=2, sort_keys=True)
    for key, value in sorted(metrics.items()):
        print(f"{key}: {value:.4f} (chance {chance.get(key, float('nan')):.4f})")
    return metrics


if __name__ == "__main__":
    main()
