"""What the evaluation command lines share: the model and manifest arguments.

Each command (``sed_cli``, ``zste_cli``; subcommands of ``speechbrain-tclap``)
evaluates one pretrained model on one manifest into one folder. Flags use
underscores as SpeechBrain's overrides (:func:`underscore_flags` accepts
dashes). No torch import here or in the parsers, so ``--help`` is immediate.

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
from typing import List, Optional, Sequence

from speechbrain_tclap.utils.safe_yaml import UNSAFE_YAML_HELP


def underscore_flags(argv: Sequence[str]) -> List[str]:
    """Command-line arguments with ``--a-b`` flags spelt ``--a_b`` (values untouched).

    Arguments
    ---------
    argv : sequence of str
        Arguments.

    Returns
    -------
    list of str
        The arguments, flags with underscores.

    Example
    -------
    >>> underscore_flags(["--data-root=a-b", "--no-progress", "x-y", "-h"])
    ['--data_root=a-b', '--no_progress', 'x-y', '-h']
    """
    out = []
    for arg in argv:
        if arg.startswith("--"):
            flag, sep, value = arg.partition("=")
            arg = flag.replace("-", "_").replace("__", "--", 1) + sep + value
        out.append(arg)
    return out


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--model``, ``--checkpoint``, ``--tokenizer_folder``, ``--overrides``, ``--savedir``,
    ``--device``, ``--num_threads``, ``--allow_unsafe_yaml``.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The command's parser.
    required : bool
        Whether ``--model`` must be given.

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> add_model_arguments(parser)
    >>> parser.parse_args(["--model", "msclap-2023"]).checkpoint is None
    True
    """
    parser.add_argument(
        "--model", required=required,
        help="pretrained name (speechbrain-tclap list), exported folder or interface YAML",
    )
    parser.add_argument("--checkpoint", default=None, help="weights file (default: the name's)")
    parser.add_argument("--tokenizer_folder", default=None, help="local tokenizer files")
    parser.add_argument("--overrides", default=None, help="YAML/JSON mapping of hparam overrides")
    parser.add_argument("--savedir", default=None, help="where the interface links its files")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num_threads", type=int, default=None,
                        help="torch CPU threads (default: OMP_NUM_THREADS, else the cores this process may use)")
    parser.add_argument("--allow_unsafe_yaml", action="store_true", help=UNSAFE_YAML_HELP)


def evaluation_parser(
    description: str, manifest_help: str, prog: Optional[str] = None
) -> argparse.ArgumentParser:
    """Parser with :func:`add_model_arguments`, ``--manifest`` and ``--output_folder``.

    Arguments
    ---------
    description : str
        What the command does.
    manifest_help : str
        What the manifest holds.
    prog : str, optional
        Program name shown in the usage (e.g. ``speechbrain-tclap sed``).

    Returns
    -------
    argparse.ArgumentParser
        The parser, for the command's own arguments to be added.

    Example
    -------
    >>> parser = evaluation_parser("A demo.", "clips")
    >>> args = parser.parse_args(["--model", "m", "--manifest", "x.json", "--output_folder", "out"])
    >>> args.device, args.savedir
    ('cpu', None)
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_model_arguments(parser)
    parser.add_argument("--manifest", required=True, help=manifest_help)
    parser.add_argument("--output_folder", required=True)
    return parser


def load_model(args: argparse.Namespace):
    """The pretrained interface that the arguments of :func:`add_model_arguments` name.

    Arguments
    ---------
    args : argparse.Namespace
        Those of :func:`add_model_arguments` (``num_threads`` is applied
        first) and ``output_folder`` where the command has one.

    Returns
    -------
    speechbrain_tclap.inference.CLAP
        The interface, its files linked in ``--savedir`` (default
        ``<output_folder>/model``, else the cache).
    """
    import yaml

    from speechbrain_tclap.inference import CLAP
    from speechbrain_tclap.utils.threads import set_num_threads

    set_num_threads(args.num_threads)
    output_folder = getattr(args, "output_folder", None)
    return CLAP.from_pretrained(
        args.model,
        checkpoint=args.checkpoint,
        tokenizer_folder=args.tokenizer_folder,
        savedir=args.savedir or (output_folder and os.path.join(output_folder, "model")),
        device=args.device,
        overrides=yaml.safe_load(args.overrides) if args.overrides else None,
        allow_unsafe_yaml=args.allow_unsafe_yaml,
    )
