"""Command line of the deployable towers: ``speechbrain-tclap export``.

``speechbrain-tclap export --source <name, folder or YAML> --output_folder OUT``
(or ``python -m speechbrain_tclap.export_cli``) exports the towers with
:func:`speechbrain_tclap.export_onnx.export_towers` and prints each file's
export time and largest difference from the eager tower. torch is imported
after parsing, so ``--help`` answers at once.

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: export the towers of a pretrained folder.

    Arguments
    ---------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every exported file matches the eager tower within
        ``--tolerance``, else 1.

    Example
    -------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    SystemExit: 0
    """
    parser = argparse.ArgumentParser(
        prog="speechbrain-tclap export",
        description="Export a CLAP model's audio and text towers with "
        "torch.export (.pt2) and to ONNX, checked against the eager model.",
    )
    parser.add_argument("--source", required=True,
                        help="pretrained name (speechbrain-tclap list), exported folder or interface YAML")
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--no_onnx", action="store_true", help="write the .pt2 files only")
    parser.add_argument("--clip_seconds", type=float, default=None,
                        help="longest clip (default: the model's window, or the "
                        "folder's clip_seconds)")
    parser.add_argument("--towers", nargs="+", default=["audio", "text"],
                        choices=["audio", "text"])
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--allow_unsafe_yaml", action="store_true",
                        help="load a hyperparams.yaml outside the safe subset "
                        "(only from an author you trust)")
    args = parser.parse_args(argv)

    from speechbrain_tclap.export_onnx import export_towers
    from speechbrain_tclap.inference import CLAP

    interface = CLAP.from_pretrained(
        args.source,
        savedir=os.path.join(args.output_folder, "interface"),
        allow_unsafe_yaml=args.allow_unsafe_yaml,
    )
    reports = export_towers(
        interface.mods.clap,
        args.output_folder,
        clip_seconds=args.clip_seconds or getattr(interface.hparams, "clip_seconds", None),
        onnx=not args.no_onnx,
        towers=args.towers,
    )
    ok = True
    for r in reports:
        diffs = [d for d in (r.program_max_diff, r.onnx_max_diff) if d is not None]
        ok = ok and all(d <= args.tolerance for d in diffs)
        print(
            f"{r.name}: {', '.join(r.files)}; dynamic: {r.dynamic}; export "
            f"{r.export_seconds:.1f} s (onnx {r.onnx_seconds or 0:.1f} s); max |diff| "
            f"pt2 {r.program_max_diff:.1e}, onnx {r.onnx_max_diff if r.onnx_max_diff is None else f'{r.onnx_max_diff:.1e}'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
