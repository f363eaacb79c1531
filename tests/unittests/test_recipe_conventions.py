"""Every recipe follows one convention, checked as SpeechBrain checks its own.

* Layout: ``recipes/<DATASET>/<TASK>/`` holds ``train.py``,
  ``<dataset>_prepare.py``, ``hparams/*.yaml`` and ``README.md``; the dataset
  folder holds task folders only. ``train.py`` imports its preparation from
  beside it (no ``sys.path`` edits), runs it once through ``run_on_main``
  (then reads the manifests at their known paths) and builds a Brain that
  sizes the learning-rate schedule (a :class:`CLAPBrain`).
* YAML vs script (the rule of SpeechBrain's ``tests/utils/check_yaml.py``):
  every top-level key of a recipe YAML is read by ``train.py`` or by the
  package modules it delegates to (those defining what it imports from
  ``speechbrain_tclap``, with the base classes of the classes), or is
  referenced by another key of the YAML, or is a run option of
  ``speechbrain.Brain``. Keys meant to be chosen from the command line are
  listed in :data:`SELECTABLE`, with why.
* Every YAML loads offline with the overrides of the recipe tests
  (``output_folder``, ``data_folder``); those needing the ``minilm`` extra
  are skipped without it. Each declares its schedule ``total_steps: null``
  with the same comment: the Brain sizes it from the training loader.
* Every ``recipes/...`` path the documentation, the scripts and the package
  name exists.

Authors
 * speechbrain-tclap developers 2026
"""

import ast
import importlib
import importlib.util
import inspect
import itertools
import re
from pathlib import Path
from typing import Dict, List, Set

import pytest
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.brain import CLAPBrain

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
PACKAGE = "speechbrain_tclap"
TASKS = sorted(path.parent for path in RECIPES.glob("*/*/train.py"))
YAMLS = sorted(path for task in TASKS for path in (task / "hparams").glob("*.yaml"))

#: Keys a recipe defines for the command line to select with
#: ``--<key>="!ref <name>"``: nothing reads them unless a user picks them.
#: Each must be shown in its recipe's README or YAML comments.
SELECTABLE: Dict[str, str] = {
    "order_separated_batches": (
        "a batch sampler (no two clips of the same classes in a batch) chosen "
        'with --train_batch_sampler="!ref <order_separated_batches>"'
    ),
}

#: The one line that declares every recipe's schedule length.
TOTAL_STEPS_LINE = (
    "    total_steps: null  # set by the Brain: optimiser steps per epoch "
    "(training loader) x epochs"
)

#: Where the code reads a key, as in SpeechBrain's check (``["key"]``,
#: ``hparams.key``, ``modules.key``, ``getattr(self.hparams, "key"``,
#: ``hparams.get("key"``).
READ_PATTERNS = (
    r"""\[["']{key}["']\]""",
    r"\bhparams\.{key}\b",
    r"\bmodules\.{key}\b",
    r"""attr\(self\.hparams,\s*["']{key}["']""",
    r"""hparams\.get\(\s*["']{key}["']""",
)


def task_id(path: Path) -> str:
    """``<DATASET>/<TASK>[/<yaml>]`` of a task folder or YAML."""
    parts = path.relative_to(RECIPES).parts
    return "/".join(p for p in parts if p != "hparams")


def prepare_module(task: Path) -> str:
    """The module name of a task's preparation: ``<dataset>_prepare``."""
    return f"{task.parent.name.lower()}_prepare"


def run_option_keys() -> Set[str]:
    """Keys ``speechbrain.Brain`` takes from the YAML as run options."""
    try:
        from speechbrain.core import RunOptions

        return set(RunOptions().as_dict())
    except ImportError:  # SpeechBrain < 1.1
        from speechbrain.core import run_opt_defaults

        return set(run_opt_defaults)


def yaml_keys(text: str) -> List[str]:
    """Top-level keys of a YAML file, without the ``__`` ones (``!apply`` calls)."""
    keys = re.findall(r"^([A-Za-z_]\w*)\s*:", text, flags=re.M)
    return [key for key in keys if not key.startswith("__")]


def yaml_references(text: str) -> Set[str]:
    """Keys referenced by ``!ref`` / ``!copy`` in the YAML (comments ignored)."""
    names = set()
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        if "!ref" in line or "!copy" in line:
            names.update(re.findall(r"<([A-Za-z_]\w*)", line))
    return names


def imported_names(path: Path) -> Dict[str, List[str]]:
    """``{module: [names]}`` of the ``from module import names`` of a file."""
    found: Dict[str, List[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.setdefault(node.module, []).extend(a.name for a in node.names)
    return found


def package_objects(path: Path) -> List[object]:
    """What a recipe file imports from the package, through local modules too."""
    objects, seen, todo = [], set(), [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for module, names in imported_names(current).items():
            local = path.parent / f"{module}.py"
            if local.is_file():
                todo.append(local)
            elif module.split(".")[0] == PACKAGE:
                loaded = importlib.import_module(module)
                objects += [getattr(loaded, name) for name in names]
    return objects


def delegated_sources(train: Path) -> List[Path]:
    """``train.py``, its local modules, and the package files it delegates to.

    A package file counts when it defines a function or class ``train.py``
    (or a module beside it) imports, or a package base class of such a
    class.
    """
    files = {train}
    files.update(train.parent / f"{m}.py" for m in imported_names(train)
                 if (train.parent / f"{m}.py").is_file())  # fmt: skip
    for obj in package_objects(train):
        classes = inspect.getmro(obj) if inspect.isclass(obj) else (obj,)
        for item in classes:
            module = getattr(item, "__module__", "") or ""
            if module.split(".")[0] == PACKAGE:
                files.add(Path(inspect.getsourcefile(item)))
    return sorted(files)


def keys_read(keys: List[str], sources: str) -> Set[str]:
    """The keys some pattern of :data:`READ_PATTERNS` finds in ``sources``."""
    return {
        key for key in keys
        if any(re.search(p.format(key=re.escape(key)), sources) for p in READ_PATTERNS)
    }  # fmt: skip


def needs_minilm(path: Path) -> bool:
    """Whether the YAML (or a file it includes) builds all-MiniLM-L6-v2."""
    text = path.read_text(encoding="utf-8")
    included = re.findall(r"!include:(\S+\.yaml)", text)
    texts = [text] + [(path.parent / inc).resolve().read_text() for inc in included]
    return any("lobes.minilm" in t for t in texts)


def brace_expand(path: str) -> List[str]:
    """``a/{b,c}{,_d}.yaml`` -> every combination (shell brace expansion)."""
    parts = re.split(r"(\{[^{}]*\})", path)
    choices = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
    return ["".join(c) for c in itertools.product(*choices)]


def test_recipes_are_found():
    assert len(TASKS) >= 5 and len(YAMLS) >= 20
    # Every YAML of recipes/ is a task's hyperparameters.
    assert set(RECIPES.rglob("*.yaml")) - set(YAMLS) == {
        path for path in RECIPES.rglob("phrasings.yaml")
    }


@pytest.mark.parametrize("task", TASKS, ids=task_id)
def test_layout(task):
    """``<DATASET>/<TASK>/{train.py, <dataset>_prepare.py, hparams/, README.md}``."""
    assert (task / prepare_module(task)).with_suffix(".py").is_file()
    assert (task / "README.md").is_file() and list((task / "hparams").glob("*.yaml"))
    assert [p.name for p in task.glob("*_prepare.py")] == [f"{prepare_module(task)}.py"]
    # The dataset folder holds task folders only (READMEs and preparations
    # live at the task level).
    for entry in task.parent.iterdir():
        assert entry.is_dir() and (entry / "train.py").is_file(), entry


@pytest.mark.parametrize("task", TASKS, ids=task_id)
def test_train_py_prepares_once_and_builds_a_sizing_brain(task):
    train = task / "train.py"
    text = train.read_text(encoding="utf-8")
    assert "sys.path" not in text, "import the preparation from beside train.py"
    prepares = set(imported_names(train).get(prepare_module(task), []))
    assert prepares, f"train.py must import its preparation from {prepare_module(task)}"
    calls = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)]
    direct = [c for c in calls if isinstance(c.func, ast.Name) and c.func.id in prepares]
    on_main = [
        c for c in calls
        if isinstance(c.func, ast.Name) and c.func.id == "run_on_main"
        and c.args and isinstance(c.args[0], ast.Name) and c.args[0].id in prepares
    ]  # fmt: skip
    assert not direct and len(on_main) == 1, "run the preparation once, with run_on_main"
    # The Brain is a CLAPBrain (which sizes a total_steps: null schedule).
    brains = {
        obj.__name__ for obj in package_objects(train)
        if inspect.isclass(obj) and issubclass(obj, CLAPBrain)
    }  # fmt: skip
    built = [c for c in calls if isinstance(c.func, ast.Name) and c.func.id in brains]
    assert len(built) == 1, "train.py builds one CLAPBrain (or subclass)"
    for step in (".fit(", ".evaluate("):
        assert step in text, f"train.py shows the {step[1:-1]} step"


@pytest.mark.parametrize("path", YAMLS, ids=task_id)
def test_yaml_keys_are_read_by_the_script(path):
    """SpeechBrain's yaml-vs-script rule over ``train.py`` and its delegates."""
    text = path.read_text(encoding="utf-8")
    keys = yaml_keys(text)
    sources = "\n".join(
        p.read_text(encoding="utf-8") for p in delegated_sources(path.parent.parent / "train.py")
    )
    unused = (
        set(keys)
        - yaml_references(text)
        - keys_read(keys, sources)
        - run_option_keys()
        - set(SELECTABLE)
    )
    assert not unused, f"{task_id(path)}: keys neither read nor referenced: {sorted(unused)}"


def test_selectable_keys_exist_and_are_documented():
    for key in SELECTABLE:
        defining = [p for p in YAMLS if key in yaml_keys(p.read_text(encoding="utf-8"))]
        assert defining, f"SELECTABLE lists {key!r}, which no recipe YAML defines"
        for path in defining:
            docs = path.read_text(encoding="utf-8") + (path.parent.parent / "README.md").read_text(
                encoding="utf-8"
            )
            assert f"!ref <{key}>" in docs, f"{task_id(path)}: show how to select {key}"


def test_the_delegates_include_the_package_modules():
    sources = delegated_sources(RECIPES / "MultiTask" / "Encoder" / "train.py")
    names = {p.relative_to(ROOT).as_posix() for p in sources}
    assert {
        "speechbrain_tclap/multitask/brain.py",
        "speechbrain_tclap/brain.py",  # the base class of MultiTaskBrain
        "speechbrain_tclap/recipe.py",
        "recipes/MultiTask/Encoder/multitask_prepare.py",
    } <= names


def test_a_key_nothing_reads_is_reported(tmp_path):
    text = "seed: 1\nused: 2\nlonely: 3\nref: !ref <seed>\n# !ref <lonely> in a comment\n"
    keys = yaml_keys(text)
    assert keys == ["seed", "used", "lonely", "ref"]
    found = keys_read(keys, 'x = hparams["used"]; y = self.hparams.ref')
    assert set(keys) - yaml_references(text) - found == {"lonely"}


@pytest.mark.parametrize("path", YAMLS, ids=task_id)
def test_yaml_declares_the_schedule_sized_by_the_brain(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if "total_steps:" in line] == [TOTAL_STEPS_LINE]


@pytest.mark.parametrize("path", YAMLS, ids=task_id)
def test_yaml_loads_offline(path, tmp_path, monkeypatch):
    if needs_minilm(path) and importlib.util.find_spec("all_minilm_l6_v2") is None:
        pytest.skip("the minilm extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    overrides = {"output_folder": str(tmp_path / "out"), "data_folder": str(tmp_path)}
    with open(path, encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f, overrides)
    assert hparams["lr_scheduler"].total_steps is None
    assert hparams["epoch_counter"].limit == hparams["number_of_epochs"]
    if "clap" in hparams.get("modules", {}):
        assert hparams["modules"]["clap"] is hparams["model"]["clap"]


def documented_recipe_paths() -> Dict[str, List[str]]:
    """``{file: [recipes/... paths]}`` named in the docs, scripts and package."""
    files = [ROOT / "README.md", ROOT / ".ci" / "run"]
    for folder, pattern in (
        ("docs", "*.md"), ("recipes", "*.md"), ("recipes", "*.py"), ("recipes", "*.yaml"),
        ("speechbrain_tclap", "*.py"), ("scripts", "*.py"), ("benchmarks", "*.py"),
        ("hparams", "*.yaml"), ("tests", "*.py"),
    ):  # fmt: skip
        files += sorted((ROOT / folder).rglob(pattern))
    found = {}
    for path in files:
        if not path.is_file():
            continue
        names = re.findall(r"(?<![\w/.])recipes/[\w./{},-]*", path.read_text(encoding="utf-8"))
        if names:
            found[str(path.relative_to(ROOT))] = names
    return found


def test_documented_recipe_paths_exist():
    missing = []
    for source, names in documented_recipe_paths().items():
        for name in names:
            for path in brace_expand(name.rstrip(".,")):
                if not (ROOT / path).exists():
                    missing.append(f"{source}: {path}")
    assert not missing, "\n".join(missing)
