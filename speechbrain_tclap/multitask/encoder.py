"""The exported audio encoder of multi-task pretraining, and its loading.

:func:`export_audio_encoder` writes ``audio_encoder.ckpt`` (a state dict,
loadable with ``weights_only=True``) and ``encoder.json`` (tasks, metrics,
origin); :func:`load_audio_encoder` loads it strictly, as the CLAP recipes'
``init_weights: [{source: <path>, into: clap.audio_encoder}]`` do.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os
from typing import Any, Dict, Optional, Union

import torch
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.utils.checkpointing import read_checkpoint
from speechbrain_tclap.utils.distributed import unwrap_module

logger = get_logger(__name__)

#: File names inside an exported encoder folder.
ENCODER_FILE = "audio_encoder.ckpt"
INFO_FILE = "encoder.json"


def export_audio_encoder(
    encoder: torch.nn.Module, folder: str, info: Optional[Dict[str, Any]] = None
) -> str:
    """Write an encoder's weights (and a JSON description) to ``folder``.

    Arguments
    ---------
    encoder : torch.nn.Module
        The trained audio encoder (a DDP wrapper is unwrapped).
    folder : str
        Output folder (created).
    info : dict, optional
        JSON-serialisable description (tasks, metrics, ...).

    Returns
    -------
    str
        Path of ``audio_encoder.ckpt``.

    Example
    -------
    >>> path = export_audio_encoder(torch.nn.Linear(2, 3), str(getfixture("tmpdir")))
    >>> os.path.basename(path), sorted(torch.load(path, weights_only=True))
    ('audio_encoder.ckpt', ['bias', 'weight'])
    """
    encoder = unwrap_module(encoder)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, ENCODER_FILE)
    tmp = path + ".tmp"
    torch.save({k: v.detach().cpu() for k, v in encoder.state_dict().items()}, tmp)
    os.replace(tmp, path)  # never a half-written file under the final name
    description = {
        "encoder_class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        "num_tensors": len(encoder.state_dict()),
        **(info or {}),
    }
    with open(os.path.join(folder, INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(description, f, indent=2, sort_keys=True)
        f.write("\n")
    logger.info("exported the audio encoder to %s", path)
    return path


def load_audio_encoder(
    encoder: torch.nn.Module, path: Union[str, os.PathLike], key: str = "init_weights"
) -> None:
    """Load an exported encoder file (a state dict) strictly into ``encoder``.

    Arguments
    ---------
    encoder : torch.nn.Module
        An encoder of the same architecture (e.g. a CLAP's ``audio_encoder``).
    path : str or os.PathLike
        ``audio_encoder.ckpt`` (or any state-dict file of the module).
    key : str
        The setting that named the file, for error messages.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        It is not a state dict, or its keys or shapes do not fit the
        encoder (the message names the file and the differences).

    Example
    -------
    >>> folder = str(getfixture("tmpdir"))
    >>> source = torch.nn.Linear(2, 3)
    >>> path = export_audio_encoder(source, folder)
    >>> target = torch.nn.Linear(2, 3)
    >>> load_audio_encoder(target, path)
    >>> torch.equal(target.weight, source.weight)
    True
    >>> try:
    ...     load_audio_encoder(torch.nn.Linear(2, 4), path)
    ... except ValueError as err:
    ...     print("does not fit Linear" in str(err), "size mismatch" in str(err))
    True True
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key}: {path} not found")
    try:
        state = read_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure
        raise ValueError(f"{key}: {path}: not a readable weights file ({exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{key}: {path}: expected a state dict of tensors")
    target = unwrap_module(encoder)
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        problem = " ".join(str(exc).split())
        raise ValueError(
            f"{key}: {path} does not fit {type(target).__name__} (was it exported "
            f"from the same model file?): {problem}"
        ) from exc
    logger.info("initialised %s from %s (%d tensors)", type(target).__name__, path, len(state))
