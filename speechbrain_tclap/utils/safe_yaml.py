"""Safe mode for HyperPyYAML files from model folders: no code outside model-building modules.

HyperPyYAML constructs whatever a file names (``!apply:os.system`` runs a
shell command; PyYAML's ``!!python/...`` too), so loading someone else's
model folder runs their code. :func:`check_yaml_safe` reads the tags without
constructing anything and refuses, naming tag and file, every tag but:

* plain YAML types, ``!ref``, ``!copy``, ``!tuple``, ``!PLACEHOLDER``;
* ``!new:`` / ``!name:`` / ``!apply:`` / ``!applyref:`` / ``!module:`` of a
  public class or function defined in :data:`SAFE_MODULES` (the resolved
  object is checked), except :data:`FILE_WRITERS`;
* ``!include:`` of a ``.yaml`` file in the checked file's folder or the
  package's ``hparams`` folder, checked the same way.

``"(...)"`` strings (re-parsed by HyperPyYAML as tuples) are checked too,
and aliases expanding past :data:`MAX_EXPANDED_NODES` nodes ("billion
laughs") or into themselves are refused. A guard against running code, not
a sandbox: allowed constructors still read weights and allocate memory.

Authors
 * speechbrain-tclap developers 2026
"""

import inspect
import os
import pydoc
import re

import ruamel.yaml
import yaml

from speechbrain_tclap.utils.package_data import hparams_folder

#: Modules whose public classes and functions a safe YAML file may call:
#: model building, checkpoint conversion (weights-only), freezing, ``Pretrainer``.
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
#: Most nodes a file may expand to with its aliases copied out (model files: thousands).
MAX_EXPANDED_NODES = 200_000
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


def check_yaml_safe(path: str, include_folders=None) -> None:
    """Refuses a HyperPyYAML file (and the files it includes) that names unsafe code.

    Nothing is constructed or called; only allowed modules are imported.

    Arguments
    ---------
    path : str
        The YAML file.
    include_folders : list of str, optional
        Folders ``!include:`` may read; default: the file's real folder and ``hparams``.

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
    if include_folders is None:
        include_folders = [os.path.dirname(os.path.realpath(path)), str(hparams_folder())]
    with open(path, encoding="utf-8") as f:
        root = ruamel.yaml.YAML().compose(f)
    if root is not None:
        _check_expansion(path, root)
    stack, seen = [root] if root is not None else [], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:  # aliases share nodes (and may form cycles)
            continue
        seen.add(id(node))
        _check_tag(path, str(getattr(node.tag, "value", node.tag)), include_folders)
        if isinstance(node.value, str) and _TUPLE.match(node.value):
            try:
                stack.append(yaml.compose(f"[{node.value[1:-1]}]", Loader=yaml.SafeLoader))
            except yaml.YAMLError:
                pass  # HyperPyYAML fails on it as well, before constructing anything
        else:
            stack.extend(_children(node))


def _children(node):
    """The nodes directly below a composed node (mapping keys and values too)."""
    if not isinstance(node.value, list):
        return []
    return [child for item in node.value for child in (item if isinstance(item, tuple) else (item,))]


def _check_expansion(path: str, root) -> None:
    """Refuses aliases that expand past :data:`MAX_EXPANDED_NODES` or contain themselves."""
    sizes, on_path, stack = {}, set(), [(root, False)]
    while stack:  # post-order without recursion (a deep file must not overflow Python's stack)
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_EXPANDED_NODES:
                raise UnsafeYAMLError(
                    path, "*alias", f"its aliases expand to more than {MAX_EXPANDED_NODES} nodes"
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise UnsafeYAMLError(path, "*alias", "an alias refers to a node that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _check_tag(path: str, tag: str, include_folders) -> None:
    """Raises :class:`UnsafeYAMLError` unless ``tag`` is allowed."""
    core = "tag:yaml.org,2002:"
    if tag in _PLAIN_TAGS or (tag.startswith(core) and tag[len(core):] in _CORE_TYPES):
        return
    if tag.startswith("!include:"):
        # resolved as HyperPyYAML does: from the real folder of the file
        target = os.path.realpath(
            os.path.join(os.path.dirname(os.path.realpath(path)), tag[len("!include:"):])
        )
        inside = any(
            os.path.commonpath([target, os.path.realpath(folder)]) == os.path.realpath(folder)
            for folder in include_folders
        )
        if not inside or not target.endswith((".yaml", ".yml")):
            raise UnsafeYAMLError(
                path, tag, "an include must be a .yaml file in this folder or the package's hparams"
            )
        check_yaml_safe(target, include_folders)
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
