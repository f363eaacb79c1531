"""Registry of foreign checkpoint formats: detection and conversion.

Each converter module registers its formats (a name, a detector and a pure
converter to our ``CLAP`` keys) with :func:`register_format`;
:func:`convert_state_dict` detects and converts, for the ``Pretrainer`` hook
:func:`speechbrain_tclap.convert.pretrainer.load_any_checkpoint`.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Callable, Dict, List, NamedTuple, Tuple

import torch

from speechbrain_tclap.convert.htsat_keys import ConversionReport

StateDict = Dict[str, torch.Tensor]


class CheckpointFormat(NamedTuple):
    """A registered foreign format.

    Arguments
    ---------
    name : str
        Format name (e.g. ``"laion_clap"``).
    detect : callable
        ``(state_dict) -> bool``.
    convert : callable
        ``(state_dict) -> (state_dict, ConversionReport)``.

    Example
    -------
    >>> fmt = CheckpointFormat("x", lambda sd: True, lambda sd: (sd, None))
    >>> fmt.name
    'x'
    """

    name: str
    detect: Callable[[StateDict], bool]
    convert: Callable[[StateDict], Tuple[StateDict, ConversionReport]]


_FORMATS: List[CheckpointFormat] = []


def register_format(name: str, detect, convert) -> None:
    """Register a foreign format (later registrations are tried first).

    Arguments
    ---------
    name, detect, convert
        As the fields of :class:`CheckpointFormat`; a name given again replaces.

    Example
    -------
    >>> register_format("doc_example", lambda sd: "doc.x" in sd,
    ...                 lambda sd: ({"x": sd["doc.x"]}, ConversionReport()))
    >>> detect_format({"doc.x": torch.zeros(1)})
    'doc_example'
    """
    _FORMATS[:] = [f for f in _FORMATS if f.name != name]
    _FORMATS.insert(0, CheckpointFormat(name, detect, convert))


def detect_format(state_dict: StateDict) -> str:
    """Name of the format of ``state_dict`` (``"native"`` for ours).

    Arguments
    ---------
    state_dict : dict
        A loaded state dict.

    Returns
    -------
    str
        The format name; ``ValueError`` when none matches.

    Example
    -------
    >>> detect_format({"log_logit_scale": torch.zeros(())})
    'native'
    """
    if "log_logit_scale" in state_dict:
        return "native"
    _load_builtin_converters()
    for fmt in _FORMATS:
        if fmt.detect(state_dict):
            return fmt.name
    raise ValueError(
        "unknown checkpoint format (first keys: "
        f"{list(state_dict)[:5]}); known formats: native, "
        + ", ".join(f.name for f in _FORMATS)
    )


def convert_state_dict(state_dict: StateDict) -> Tuple[StateDict, ConversionReport, str]:
    """Detect the format and convert to our ``CLAP`` keys.

    Arguments
    ---------
    state_dict : dict
        A loaded state dict (wrappers such as ``{"state_dict": ...}`` removed).

    Returns
    -------
    tuple
        ``(state_dict, report, format_name)``; native dicts as they are.

    Example
    -------
    >>> sd, report, name = convert_state_dict({"log_logit_scale": torch.zeros(())})
    >>> name
    'native'
    """
    name = detect_format(state_dict)
    if name == "native":
        return state_dict, ConversionReport(), name
    fmt = next(f for f in _FORMATS if f.name == name)
    converted, report = fmt.convert(state_dict)
    return converted, report, name


def unwrap_checkpoint(obj) -> StateDict:
    """The state dict inside a ``{"state_dict"|"model"|"module": ...}`` wrapper.

    Arguments
    ---------
    obj : dict
        What ``torch.load`` returned.

    Returns
    -------
    dict
        The state dict.

    Example
    -------
    >>> list(unwrap_checkpoint({"state_dict": {"a": torch.zeros(1)}}))
    ['a']
    """
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def _load_builtin_converters() -> None:
    """Import the converter modules so that they register their formats."""
    import importlib

    for module in ("laion", "hf", "msclap", "mgaclap"):
        try:
            importlib.import_module(f"speechbrain_tclap.convert.{module}")
        except ModuleNotFoundError as err:  # only a missing converter is skipped
            if err.name != f"speechbrain_tclap.convert.{module}":
                raise
