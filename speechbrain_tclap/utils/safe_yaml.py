"""Safe mode for HyperPyYAML files from model folders: no code outside model-building modules.

HyperPyYAML constructs whatever a file names: ``!new:``, ``!apply:``,
``!applyref:``, ``!name:`` and ``!module:`` import and call any Python
object (``!apply:os.system`` runs a shell command), and PyYAML's
``!!python/...`` tags do the same. Loading a model folder from someone else
therefore runs their code. :func:`check_yaml_safe` reads a file's tags
without constructing anything and refuses, naming the tag and the file,
every tag that is not

* a plain YAML type, ``!ref``, ``!copy``, ``!tuple`` or ``!PLACEHOLDER``;
* ``!new:`` / ``!name:`` / ``!apply:`` / ``!applyref:`` / ``!module:`` of a
  public class or function defined in :data:`SAFE_MODULES` (the objects
  themselves are checked, so ``<allowed module>.os.system`` is refused),
  except the training utilities that write files (:data:`FILE_WRITERS`);
* ``!include:`` of a file that passes the same check;

and strings ``"(...)"`` (which HyperPyYAML parses again as tuples, with
PyYAML's full loader) are checked as YAML too.

It is a guard against running code, not a sandbox: allowed constructors
still read the files the folder names (weights-only) and allocate memory.

Authors
 * speechbrain-tclap developers 2026
"""

import inspect
import os
import pydoc
import re

import ruamel.yaml
import yaml

#: Modules whose public classes and functions a safe YAML file may construct
#: or call: model building (ours, SpeechBrain's, ``torch.nn``), checkpoint
#: conversion (weights-only), freezing rules and SpeechBrain's ``Pretrainer``.
SAFE_MODULES = (
    "speechbrain_tclap.lobes",
    "speechbrain_tclap.convert",
    "speechbrain_tclap.losses",
    "speechbrain_tclap.utils.freezing",
    "speechbrain.nnet",
    "speechbrain.lobes.features",
    "speechbrain.processing",
    "speechbrain.dataio.preprocess",
    "speechbrain.utils.parameter_transfer",
    "torch.nn",
)
#: Help of the command-line flag that turns safe mode off.
UNSAFE_YAML_HELP = (
    "load a model YAML that names code outside the model-building modules "
    "(HyperPyYAML runs it): only for a folder whose author you trust"
)
#: Functions of those modules that write files (training utilities): refused.
FILE_WRITERS = (
    "speechbrain_tclap.lobes.tokenizers.train_sentencepiece",
    "speechbrain_tclap.lobes.minilm.main",
)
# HyperPyYAML reads a string "(...)" again, as a list, with PyYAML's full loader
_TUPLE = re.compile(r"^\(.*\)$", re.DOTALL)
_CALL_TAGS = ("!new:", "!name:", "!apply:", "!applyref:", "!module:")
_PLAIN_TAGS = {"!ref", "!copy", "!tuple", "!PLACEHOLDER"}
_CORE_TYPES = {
    "str", "int", "float", "bool", "null", "map", "seq", "omap", "pairs",
    "set", "timestamp", "binary", "merge", "value",
}


class UnsafeYAMLError(ValueError):
    """A YAML file names code outside :data:`SAFE_MODULES`; the message names the tag and file.

    Arguments
    ---------
    path : str
        The YAML file.
    tag : str
        The refused tag.
    why : str
        Why it is refused.

    Example
    -------
    >>> print(UnsafeYAMLError("m/hyperparams.yaml", "!apply:os.system", "not allowed"))
    m/hyperparams.yaml: refused tag !apply:os.system (not allowed). Loading this file would run code it names; if you trust its author, load it with allow_unsafe_yaml=True
    """

    def __init__(self, path: str, tag: str, why: str):
        self.path, self.tag = path, tag
        super().__init__(
            f"{path}: refused tag {tag} ({why}). Loading this file would run code it "
            "names; if you trust its author, load it with allow_unsafe_yaml=True"
        )


def check_yaml_safe(path: str) -> None:
    """Refuses a HyperPyYAML file (and the files it includes) that names unsafe code.

    Nothing is constructed or called; only the allowed modules are imported
    (to check what a dotted name resolves to).

    Arguments
    ---------
    path : str
        The YAML file.

    Raises
    ------
    UnsafeYAMLError
        On the first refused tag.

    Example
    -------
    >>> path = getfixture("tmpdir") / "h.yaml"
    >>> _ = path.write("lin: !new:torch.nn.Linear [2, 2]\\nn: !ref <lin>\\n")
    >>> check_yaml_safe(str(path))
    >>> _ = path.write("x: !apply:os.system ['touch pwned']\\n")
    >>> check_yaml_safe(str(path))
    Traceback (most recent call last):
        ...
    speechbrain_tclap.utils.safe_yaml.UnsafeYAMLError: ...
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        root = ruamel.yaml.YAML().compose(f)
    stack, seen = [root] if root is not None else [], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:  # aliases share nodes (and may form cycles)
            continue
        seen.add(id(node))
        _check_tag(path, str(getattr(node.tag, "value", node.tag)))
        if isinstance(node.value, str) and _TUPLE.match(node.value):
            try:
                stack.append(yaml.compose(f"[{node.value[1:-1]}]", Loader=yaml.SafeLoader))
            except yaml.YAMLError:
                pass  # HyperPyYAML fails on it as well, before constructing anything
        elif isinstance(node.value, list):
            for item in node.value:  # mapping items are (key, value) pairs
                stack.extend(item if isinstance(item, tuple) else (item,))


def _check_tag(path: str, tag: str) -> None:
    """Raises :class:`UnsafeYAMLError` unless ``tag`` is allowed."""
    core = "tag:yaml.org,2002:"
    if tag in _PLAIN_TAGS or (tag.startswith(core) and tag[len(core):] in _CORE_TYPES):
        return
    if tag.startswith("!include:"):
        # resolved as HyperPyYAML does: from the real folder of the file
        folder = os.path.dirname(os.path.realpath(path))
        check_yaml_safe(os.path.join(folder, tag[len("!include:"):]))
        return
    kind = next((k for k in _CALL_TAGS if tag.startswith(k)), None)
    if kind is None:
        raise UnsafeYAMLError(path, tag, "not a HyperPyYAML tag of model building")
    name = tag[len(kind):]
    why = _unsafe_reason(name, module=kind == "!module:")
    if why:
        raise UnsafeYAMLError(path, tag, why)


def _unsafe_reason(name: str, module: bool) -> str:
    """Why the dotted ``name`` may not be constructed or called ('' when it may)."""
    if not _in_safe_modules(name):
        return f"{name} is outside the allowed modules {', '.join(SAFE_MODULES)}"
    if any(part.startswith("_") for part in name.split(".")):
        return "private names are not allowed"
    try:
        target = pydoc.locate(name)
    except pydoc.ErrorDuringImport as err:
        return f"{name} cannot be imported ({err.value})"
    if module:
        ok = inspect.ismodule(target) and _in_safe_modules(target.__name__)
    else:
        ok = (inspect.isclass(target) or inspect.isroutine(target)) and _in_safe_modules(
            getattr(target, "__module__", None) or ""
        )
    if not ok:
        return f"{name} does not resolve to a class or function of the allowed modules"
    if f"{target.__module__}.{getattr(target, '__qualname__', '')}" in FILE_WRITERS:
        return f"{name} writes files"
    return ""


def _in_safe_modules(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in SAFE_MODULES)
