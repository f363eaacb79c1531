"""What the evaluation command lines share: the model and manifest arguments.

Every evaluation command (:mod:`speechbrain_tclap.evaluation.sed_cli`,
:mod:`speechbrain_tclap.evaluation.zste_cli`) evaluates one model that the
pretrained interface loads on one manifest and writes into one folder.

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os

from speechbrain_tclap.utils.safe_yaml import UNSAFE_YAML_HELP


def evaluation_parser(description: str, manifest_help: str) -> argparse.ArgumentParser:
    """An argument parser with the arguments of every evaluation command.

    ``--model`` (a pretrained folder or a ``hyperparams.yaml``),
    ``--manifest``, ``--output_folder``, ``--overrides`` (a YAML / JSON
    mapping of hyperparameter overrides), ``--savedir`` and ``--device``.

    Arguments
    ---------
    description : str
        What the command does.
    manifest_help : str
        What the manifest holds.

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
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", required=True, help="pretrained folder or hyperparams YAML")
    parser.add_argument("--manifest", required=True, help=manifest_help)
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--overrides", default=None, help="YAML/JSON mapping of hparam overrides")
    parser.add_argument("--savedir", default=None, help="default: <output_folder>/model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--allow_unsafe_yaml", action="store_true", help=UNSAFE_YAML_HELP)
    return parser


def load_model(args: argparse.Namespace):
    """The pretrained interface that the arguments of :func:`evaluation_parser` name.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed arguments (``model``, ``output_folder``, ``overrides``,
        ``savedir``, ``device``, ``allow_unsafe_yaml``).

    Returns
    -------
    speechbrain_tclap.inference.CLAP
        The interface (:func:`speechbrain_tclap.inference.load_interface`),
        its files collected in ``--savedir`` (default
        ``<output_folder>/model``).
    """
    import yaml

    from speechbrain_tclap.inference import load_interface

    overrides = yaml.safe_load(args.overrides) if args.overrides else None
    return load_interface(
        args.model,
        args.savedir or os.path.join(args.output_folder, "model"),
        device=args.device,
        overrides=overrides,
        allow_unsafe_yaml=args.allow_unsafe_yaml,
    )
