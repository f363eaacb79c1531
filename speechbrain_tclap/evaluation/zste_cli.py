"""Command line of ZSTE: a pretrained model on a labelled clip manifest.

``speechbrain-tclap zste --model <name, pretrained folder or hyperparams.yaml>
--manifest <labelled clips> --output_folder <dir>`` (or ``python -m
speechbrain_tclap.evaluation.zste_cli``) runs the tasks of :class:`speechbrain_tclap.evaluation.zste.ZSTE` and writes
``zste.json`` and ``zste.md``.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import TYPE_CHECKING, Optional, Sequence

from speechbrain_tclap.evaluation.cli import evaluation_parser, load_model

if TYPE_CHECKING:
    from speechbrain_tclap.evaluation.zste import ZSTEResult


def main(argv: Optional[Sequence[str]] = None) -> "ZSTEResult":
    """Command-line ZSTE of a pretrained model on a labelled clip manifest.

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    ZSTEResult
        The results (also written to ``--output_folder``).
    """
    parser = evaluation_parser(
        "ZSTE (zero-shot temporal evaluation) of a CLAP model.",
        "labelled clips of one split (CSV/JSON: id, wav, label)",
        prog="speechbrain-tclap zste",
    )
    parser.add_argument("--segment_seconds", type=float, default=None,
                        help="length of each event (default: half the model's clip_seconds; "
                             "5 for ESC-50 as the paper)")
    parser.add_argument("--gain", default="rms", choices=["rms", "peak", "none"],
                        help="per-segment level normalisation (the paper: none)")
    parser.add_argument("--window", default="whole", choices=["whole", "sliding"])
    parser.add_argument("--num_pairs", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--num_candidates", type=int, default=50)
    parser.add_argument("--distractors", default="paper", help="paper (the paper's rule) or uniform")
    parser.add_argument("--prompt_template", default=None,
                        help="default: speechbrain_tclap.data.zste_prompts.DEFAULT_PROMPT")
    parser.add_argument("--label_key", default=None)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args(argv)
    # after parsing: --help imports no torch
    from speechbrain_tclap.data.temporal import TemporalViewBuilder
    from speechbrain_tclap.data.zste_prompts import DEFAULT_PROMPT
    from speechbrain_tclap.evaluation.zste import ZSTE

    interface = load_model(args)
    segment = args.segment_seconds
    if segment is None:
        clip = interface.model.clip_seconds
        if clip is None:
            raise ValueError("the model has no clip_seconds: pass --segment_seconds")
        segment = clip / 2
    builder = TemporalViewBuilder(
        interface.sample_rate,
        segment,
        gain=None if args.gain == "none" else args.gain,
        resample=True,
    )
    zste = ZSTE(
        builder,
        num_pairs=args.num_pairs,
        seeds=args.seeds,
        label_key=args.label_key,
        prompt_template=args.prompt_template or DEFAULT_PROMPT,
        num_candidates=args.num_candidates,
        distractors=args.distractors,
    )
    interface.mods.eval()
    result = zste.run(interface.model, args.manifest, args.window, args.batch_size)
    result.info.update({"model": args.model, "manifest": args.manifest})
    paths = result.save(args.output_folder)
    print(result.to_markdown())
    print("written:", ", ".join(paths))
    return result


if __name__ == "__main__":
    main()
