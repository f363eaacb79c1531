"""Pretrained models by name: the registry and where their files are.

The interface files (``hparams/pretrained/*.yaml``) and model files
(``hparams/models/*.yaml``) ship inside the package (the wheel's
``speechbrain_tclap/_hparams``; a checkout reads ``hparams/``), so a short
name loads a public checkpoint from any directory:
``CLAP.from_pretrained("laion-630k-audioset", checkpoint=path)``. Every
interface file takes the overrides ``checkpoint`` (a local file, or
``"<HF repo id>/<file>"`` that the ``Pretrainer`` downloads; with
``HF_HUB_OFFLINE`` only from the local cache) and ``tokenizer_folder``; local
paths are checked before anything is built. No torch import, so the command
line lists names at once.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Dict, NamedTuple, Optional, Tuple

from speechbrain_tclap.lobes.minilm import default_cache_folder
from speechbrain_tclap.utils.package_data import hparams_folder


class PretrainedEntry(NamedTuple):
    """One name of the registry: an interface file and the checkpoint it loads."""

    interface_file: str
    checkpoint: Optional[str]  # None: the file names none, give one
    tokenizer: str  # which tokenizer files ``tokenizer_folder`` holds


_LAION = "lukewys/laion_clap/"
_ROBERTA = "roberta-base (e.g. the HF repo laion/clap-htsat-unfused)"

#: Short name -> interface file, default checkpoint, tokenizer files.
PRETRAINED: Dict[str, PretrainedEntry] = {
    "laion-630k": PretrainedEntry("laion_clap_htsat_tiny.yaml", _LAION + "630k-best.pt", _ROBERTA),
    "laion-630k-audioset": PretrainedEntry(
        "laion_clap_htsat_tiny.yaml", _LAION + "630k-audioset-best.pt", _ROBERTA
    ),
    "laion-630k-fusion": PretrainedEntry(
        "laion_clap_htsat_tiny_fused.yaml", _LAION + "630k-fusion-best.pt", _ROBERTA
    ),
    "laion-630k-audioset-fusion": PretrainedEntry(
        "laion_clap_htsat_tiny_fused.yaml", _LAION + "630k-audioset-fusion-best.pt", _ROBERTA
    ),
    "laion-music-audioset": PretrainedEntry(
        "laion_clap_htsat_base.yaml", _LAION + "music_audioset_epoch_15_esc_90.14.pt", _ROBERTA
    ),
    "laion-music-speech": PretrainedEntry(
        "laion_clap_htsat_base.yaml", _LAION + "music_speech_epoch_15_esc_89.25.pt", _ROBERTA
    ),
    "laion-music-speech-audioset": PretrainedEntry(
        "laion_clap_htsat_base.yaml",
        _LAION + "music_speech_audioset_epoch_15_esc_89.98.pt",
        _ROBERTA,
    ),
    "hf-clap-htsat-unfused": PretrainedEntry(
        "hf_clap_htsat_unfused.yaml", "laion/clap-htsat-unfused/pytorch_model.bin", _ROBERTA
    ),
    "hf-clap-htsat-fused": PretrainedEntry(
        "hf_clap_htsat_fused.yaml", "laion/clap-htsat-fused/pytorch_model.bin", _ROBERTA
    ),
    "msclap-2022": PretrainedEntry(
        "msclap_2022.yaml", "microsoft/msclap/CLAP_weights_2022.pth", "bert-base-uncased"
    ),
    "msclap-2023": PretrainedEntry("msclap_2023.yaml", "microsoft/msclap/CLAP_weights_2023.pth", "gpt2"),
    "mgaclap": PretrainedEntry("mgaclap.yaml", None, "bert-base-uncased"),
}


def list_pretrained() -> Dict[str, str]:
    """The names :meth:`speechbrain_tclap.inference.CLAP.from_pretrained` loads.

    Returns
    -------
    dict
        Name -> what it loads (interface file, default checkpoint, tokenizer).

    Example
    -------
    >>> print(list_pretrained()["msclap-2023"])
    msclap_2023.yaml: microsoft/msclap/CLAP_weights_2023.pth; tokenizer_folder: gpt2
    """
    return {
        name: f"{e.interface_file}: {e.checkpoint or 'checkpoint= required'}; "
        f"tokenizer_folder: {e.tokenizer}"
        for name, e in PRETRAINED.items()
    }


def is_hub_reference(value: str) -> bool:
    """Whether ``value`` reads as ``"<owner>/<repo>/<file>"`` rather than a local path.

    Arguments
    ---------
    value : str
        A checkpoint as given.

    Returns
    -------
    bool
        True for a relative path of 3+ parts, not starting with ``.`` or ``~``,
        that does not exist here.

    Example
    -------
    >>> is_hub_reference("lukewys/laion_clap/630k-best.pt"), is_hub_reference("/x/a.pt")
    (True, False)
    """
    parts = str(value).split("/")
    return (
        len(parts) >= 3
        and not os.path.isabs(value)
        and not str(value).startswith((".", "~"))
        and not os.path.exists(value)
    )


def check_checkpoint(value: str, key: str = "checkpoint") -> str:
    """A checkpoint that can be had now: a local file, or a Hub file that may be fetched.

    Arguments
    ---------
    value : str
        A local file or ``"<HF repo id>/<file>"``.
    key : str
        The override's name, for the message.

    Returns
    -------
    str
        The absolute local path, the cached Hub file, or the Hub reference
        (for the ``Pretrainer`` to download).

    Raises
    ------
    FileNotFoundError
        A local path that does not exist, or a Hub file not in the cache
        while ``HF_HUB_OFFLINE`` is set.

    Example
    -------
    >>> check_checkpoint("no/such.pt")
    Traceback (most recent call last):
        ...
    FileNotFoundError: checkpoint 'no/such.pt': no such file (give a local file, or '<HF repo id>/<file>' to download)
    """
    value = str(value)
    if os.path.isfile(os.path.expanduser(value)):
        return os.path.abspath(os.path.expanduser(value))
    if not is_hub_reference(value):
        raise FileNotFoundError(
            f"{key} {value!r}: no such file (give a local file, or "
            "'<HF repo id>/<file>' to download)"
        )
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        repo, _, filename = value.rpartition("/")
        cached = try_to_load_from_cache(repo, filename)
        if not isinstance(cached, str):
            raise FileNotFoundError(
                f"{key} {value!r} is not in the Hugging Face cache and HF_HUB_OFFLINE "
                f"is set: download it (hf download {repo} {filename}) or give a local file"
            )
        return cached
    return value


def resolve_pretrained(
    name: str,
    checkpoint: Optional[str] = None,
    tokenizer_folder: Optional[str] = None,
    overrides: Optional[dict] = None,
) -> Tuple[str, str, dict]:
    """Where a name, an exported folder or a YAML file is, with checked overrides.

    Arguments
    ---------
    name : str
        A registry name (:func:`list_pretrained`), an exported folder, or an
        interface YAML.
    checkpoint : str, optional
        Weights instead of the default (registry names and interface YAMLs).
    tokenizer_folder : str, optional
        Local folder with the tokenizer files.
    overrides : dict, optional
        Further hyperparameter overrides.

    Returns
    -------
    tuple
        ``(source folder, hyperparams file name, overrides)`` for
        ``CLAP.from_hparams``.

    Example
    -------
    >>> weights = getfixture("tmp_path") / "CLAP_weights_2023.pth"
    >>> _ = weights.write_bytes(b"")
    >>> source, file, over = resolve_pretrained("msclap-2023", checkpoint=str(weights))
    >>> file, over == {"checkpoint": str(weights)}
    ('msclap_2023.yaml', True)
    >>> resolve_pretrained("no-such-model")
    Traceback (most recent call last):
        ...
    FileNotFoundError: 'no-such-model' is no pretrained name, folder with hyperparams.yaml or YAML file; names: laion-630k, laion-630k-audioset, laion-630k-fusion, laion-630k-audioset-fusion, laion-music-audioset, laion-music-speech, laion-music-speech-audioset, hf-clap-htsat-unfused, hf-clap-htsat-fused, msclap-2022, msclap-2023, mgaclap
    """
    overrides = dict(overrides or {})
    checkpoint = checkpoint or overrides.pop("checkpoint", None)
    if name in PRETRAINED:
        entry = PRETRAINED[name]
        source, hparams_file = str(hparams_folder() / "pretrained"), entry.interface_file
        checkpoint = checkpoint or entry.checkpoint
    elif os.path.isfile(os.path.join(name, "hyperparams.yaml")):
        source, hparams_file = os.path.abspath(name), "hyperparams.yaml"
        if checkpoint is not None:
            raise ValueError(
                f"{name!r} is an exported folder: its weights are in it (checkpoint= "
                "is for registry names and interface files)"
            )
    elif os.path.isfile(name):
        source, hparams_file = os.path.dirname(os.path.abspath(name)), os.path.basename(name)
    else:
        raise FileNotFoundError(
            f"{name!r} is no pretrained name, folder with hyperparams.yaml or YAML "
            f"file; names: {', '.join(PRETRAINED)}"
        )
    if checkpoint is not None:
        overrides["checkpoint"] = check_checkpoint(checkpoint)
    tokenizer_folder = tokenizer_folder or overrides.get("tokenizer_folder")
    if tokenizer_folder is not None:
        if not os.path.isdir(os.path.expanduser(str(tokenizer_folder))):
            raise FileNotFoundError(f"tokenizer_folder {str(tokenizer_folder)!r}: no such folder")
        overrides["tokenizer_folder"] = os.path.abspath(os.path.expanduser(str(tokenizer_folder)))
    return source, hparams_file, overrides


def default_savedir(name: str) -> str:
    """Where an interface collects its files when no ``savedir`` is given.

    Arguments
    ---------
    name : str
        Registry name, folder or file.

    Returns
    -------
    str
        ``<cache>/pretrained/<name>`` (``$SPEECHBRAIN_TCLAP_CACHE`` or
        ``~/.cache/speechbrain_tclap``); paths keyed by their absolute path.

    Example
    -------
    >>> default_savedir("msclap-2023").endswith("pretrained/msclap-2023")
    True
    """
    key = name if name in PRETRAINED else os.path.abspath(name).strip(os.sep).replace(os.sep, "--")
    return str(default_cache_folder() / "pretrained" / key)
