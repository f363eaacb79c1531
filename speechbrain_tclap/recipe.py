"""Steps shared by the recipes' ``train.py`` (each ``train.py`` shows the experiment).

A ``train.py`` reads as SpeechBrain's (hyperparameters, data preparation,
pipeline, Brain, ``fit``, ``evaluate``); the steps they share live here:
hyperparameters and the output folder claim (:func:`load_recipe_hparams`),
starting weights (:func:`init_weights`), pair and class-disjoint manifests
(:func:`write_pair_manifests`, :func:`split_classes`), caption corpora
(:func:`caption_datasets`), a from-scratch tokenizer
(:func:`prepare_tokenizer`), the training set and loader
(:func:`training_set`, :func:`train_loader_options`) and the export
(:func:`export_experiment`).

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
import time
from typing import Dict, Iterable, List, Mapping, Optional

import speechbrain as sb
import yaml
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.caption_negatives import caption_items
from speechbrain_tclap.data.datasets import make_clap_dataset
from speechbrain_tclap.data.manifest import load_manifest, write_manifest
from speechbrain_tclap.data.shards import ShardDataset
from speechbrain_tclap.data.temporal import make_pair_rows
from speechbrain_tclap.data.samplers import loader_options_with_batch_sampler
from speechbrain_tclap.export import export_pretrained
from speechbrain_tclap.plotting import plot_curves
from speechbrain_tclap.utils.threads import set_num_threads
from speechbrain_tclap.data.captions import DEFAULT_PROMPT_TEMPLATE, class_prompts
from speechbrain_tclap.utils.locking import hold_folder
from speechbrain_tclap.lobes.tokenizers import (
    MissingTokenizer,
    SentencePieceTokenizer,
    train_sentencepiece,
)

logger = get_logger(__name__)


def load_recipe_hparams(argv):
    """Parse the command line, start DDP if asked, load the YAML, claim the output folder.

    ``train.py`` then calls ``sb.create_experiment_directory`` itself (it
    copies the calling script). Options that are not hyperparameters:
    ``--num_threads=N`` (else YAML ``num_threads``, else
    :func:`~speechbrain_tclap.utils.threads.default_num_threads`),
    ``--model_file=PATH`` (:func:`with_model_file`), ``--fresh_start=True`` and
    ``--resume_with_new_settings=True`` (:func:`claim_output_folder`; also put
    in ``hparams`` for the Brain's schedule check).

    Arguments
    ---------
    argv : list of str
        Command-line arguments (``sys.argv[1:]``).

    Returns
    -------
    tuple
        ``(hparams_file, run_opts, overrides, hparams)``.
    """
    from hyperpyyaml import load_hyperpyyaml

    flags = argparse.ArgumentParser(add_help=False)
    for flag in ("--fresh_start", "--resume_with_new_settings"):
        flags.add_argument(flag, nargs="?", const="True", default="False")
    rerun, argv = flags.parse_known_args(argv)
    fresh, new_settings = (
        str(value).lower() in ("1", "true", "yes")
        for value in (rerun.fresh_start, rerun.resume_with_new_settings)
    )
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    overrides, options = split_run_options(overrides)
    if options.get("model_file") is not None:
        hparams_file = with_model_file(hparams_file, options["model_file"])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file) as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    set_num_threads(options.get("num_threads", hparams.get("num_threads")))
    init_weight_sources(hparams)  # missing files fail before data preparation
    hparams["resume_with_new_settings"] = new_settings
    run_on_main(claim_output_folder, args=[hparams, hparams_file, overrides, fresh, new_settings])
    return hparams_file, run_opts, overrides, hparams


#: Command-line options of the recipes that are not YAML keys.
RUN_OPTIONS = ("num_threads", "model_file")


def split_run_options(overrides: str):
    r"""Take :data:`RUN_OPTIONS` out of SpeechBrain's YAML overrides string.

    Arguments
    ---------
    overrides : str
        The overrides ``sb.parse_arguments`` returns (YAML text).

    Returns
    -------
    tuple
        ``(overrides without the options, {option: value})``.

    Example
    -------
    >>> rest, options = split_run_options("lr: 0.1\nnum_threads: 1\nfreezing: !ref <a>")
    >>> rest.split("\n")[:2], options
    (['lr: 0.1', 'freezing: !ref <a>'], {'num_threads': 1})
    """
    if not overrides or not any(key in overrides for key in RUN_OPTIONS):
        return overrides, {}
    import io

    import ruamel.yaml

    yaml = ruamel.yaml.YAML()  # round trip: keeps tags such as !ref
    tree = yaml.load(overrides) or {}
    options = {key: tree.pop(key) for key in RUN_OPTIONS if key in tree}
    if not tree:
        return "", options
    stream = io.StringIO()
    yaml.dump(tree, stream)
    return stream.getvalue(), options


def with_model_file(hparams_file: str, model_file: str) -> str:
    r"""A copy of a recipe YAML whose ``model`` includes another model file.

    HyperPyYAML resolves ``!include:`` before any override, so the model file
    cannot be a YAML key. The copy (temporary folder, same name) keeps the
    nested settings and makes every other include absolute.

    Arguments
    ---------
    hparams_file : str
        The recipe YAML (a top-level ``model: !include:<file>`` line).
    model_file : str
        The model file to include instead (``hparams/models/tiny_cnn_clap.yaml``).

    Returns
    -------
    str
        The copy's path.

    Raises
    ------
    FileNotFoundError
        ``model_file`` does not exist.
    ValueError
        The recipe YAML has no ``model: !include:`` line.

    Example
    -------
    >>> tmp = getfixture("tmpdir")
    >>> _ = (tmp / "m.yaml").write("width: 4\n")
    >>> _ = (tmp / "r.yaml").write("model: !include:old.yaml\n    width: 8\n")
    >>> print(open(with_model_file(str(tmp / "r.yaml"), str(tmp / "m.yaml"))).read().strip()
    ...       == f"model: !include:{tmp / 'm.yaml'}\n    width: 8")
    True
    """
    import atexit
    import re
    import shutil
    import tempfile

    if not os.path.isfile(model_file):
        raise FileNotFoundError(f"--model_file={model_file!r}: no such file")
    with open(hparams_file, encoding="utf-8") as f:
        text = f.read()
    line = re.compile(r"^(model: !include:)\S+", re.M)
    if not line.search(text):
        raise ValueError(
            f"{hparams_file} has no top-level 'model: !include:<file>' line for "
            "--model_file to replace"
        )
    here = os.path.dirname(os.path.abspath(hparams_file))
    text = re.sub(r"!include:(\S+)", lambda m: "!include:" + os.path.join(here, m.group(1)), text)
    text = line.sub(lambda m: m.group(1) + os.path.abspath(model_file), text)
    folder = tempfile.mkdtemp(prefix="recipe_model_file_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = os.path.join(folder, os.path.basename(hparams_file))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    logger.info("model file: %s (--model_file)", model_file)
    return path


#: Settings a resumed run must share with the run that wrote its checkpoints.
RESUME_KEYS = ("number_of_epochs", "batch_size", "lr", "lr_scheduler")

#: What a run writes in its output folder (moved aside by ``--fresh_start``).
RUN_OUTPUTS = ("save_folder", "export_folder", "train_log")


class _TagBlindLoader(yaml.SafeLoader):
    """Reads a hyperparams file's values, ignoring (never running) its tags."""


_TagBlindLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_mapping(node, deep=True) if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node, deep=True) if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)
    ),
)


def resume_settings(yaml_text: str) -> Dict:
    """The :data:`RESUME_KEYS` of a resolved hyperparams text (tags ignored).

    Arguments
    ---------
    yaml_text : str
        A resolved ``hyperparams.yaml`` (as SpeechBrain saves it).

    Returns
    -------
    dict
        ``{key: value}`` of the keys it has.

    Example
    -------
    >>> resume_settings("lr: 0.1\\nlr_scheduler: !new:x.Y\\n  lr: 0.1\\nseed: 3\\n")
    {'lr': 0.1, 'lr_scheduler': {'lr': 0.1}}
    """
    tree = yaml.load(yaml_text, Loader=_TagBlindLoader) or {}
    return {key: tree[key] for key in RESUME_KEYS if key in tree}


def claim_output_folder(
    hparams: Dict, hparams_file: str, overrides, fresh_start: bool = False,
    resume_with_new_settings: bool = False,
) -> None:
    """One run per output folder; a rerun resumes only with the same settings.

    The folder is held until the process exits
    (:func:`~speechbrain_tclap.utils.locking.hold_folder`). With checkpoints
    in ``save_folder`` the run resumes, refusing when a key of
    :data:`RESUME_KEYS` differs from the saved ``hyperparams.yaml`` unless
    ``resume_with_new_settings``; ``fresh_start`` moves the earlier outputs
    (:data:`RUN_OUTPUTS`, ``hyperparams.yaml``, results) into
    ``<output_folder>/replaced-<time>/`` and starts over.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``output_folder``, ``save_folder``, ...).
    hparams_file : str
        The recipe's YAML.
    overrides : str or dict
        The command-line overrides.
    fresh_start : bool
        Move the earlier run aside and start over.
    resume_with_new_settings : bool
        Resume although resume settings changed.

    Raises
    ------
    ValueError
        Settings changed (the keys named) without either flag.
    FolderInUseError
        Another run holds the folder.
    """
    from hyperpyyaml import resolve_references

    if fresh_start and resume_with_new_settings:
        raise ValueError("--fresh_start and --resume_with_new_settings exclude each other")
    folder = hparams["output_folder"]
    hold_folder(folder, f"training with {hparams_file}")
    save = hparams.get("save_folder")
    checkpoints = bool(save) and os.path.isdir(save) and any(
        name.startswith("CKPT+") for name in os.listdir(save)
    )
    saved_yaml = os.path.join(folder, "hyperparams.yaml")
    if fresh_start:
        aside = os.path.join(folder, time.strftime("replaced-%Y%m%d-%H%M%S"))
        outputs = [hparams.get(key) for key in RUN_OUTPUTS] + [
            os.path.join(folder, name) for name in (
                "hyperparams.yaml", "results.json", "results.md",
                "initial_metrics.json", "validation_curves.png")]
        moved = [p for p in outputs if p and os.path.exists(p)
                 and os.path.dirname(os.path.abspath(p)) == os.path.abspath(folder)]
        for path in moved:
            os.makedirs(aside, exist_ok=True)
            os.rename(path, os.path.join(aside, os.path.basename(path)))
        if moved:
            logger.warning("--fresh_start: the earlier run's outputs are now in %s", aside)
        return
    if not checkpoints:
        return
    if os.path.isfile(saved_yaml):
        with open(saved_yaml) as f:
            before = resume_settings(f.read())
        with open(hparams_file) as f:
            now = resume_settings(resolve_references(f, overrides).getvalue())
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed and not resume_with_new_settings:
            detail = "; ".join(f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in changed)
            raise ValueError(
                f"{folder} holds checkpoints of a run with other settings ({detail}). "
                "Resuming would mix them: pass --fresh_start=True to start over (the "
                "earlier run is moved aside), --resume_with_new_settings=True to "
                "continue with the new settings, or choose another --output_folder"
            )
        if changed:
            logger.warning("resuming with new settings for %s", ", ".join(changed))
    logger.warning(  # a warning: shown on the console before logging is set up
        "%s holds checkpoints: this run resumes from them (--fresh_start=True starts over)",
        save,
    )


def training_captions(dataset, captioner, draws: int = 4) -> List[str]:
    """Captions a tokenizer should see: every row's captions, several draws.

    Arguments
    ---------
    dataset : DynamicItemDataset
        A dataset made by :func:`speechbrain_tclap.data.datasets.make_clap_dataset`.
    captioner : callable
        The recipe's captioner ``(row, train, rng) -> list of str``.
    draws : int
        Random training draws per row (to cover every template).

    Returns
    -------
    list of str
        Captions.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain_tclap.data.datasets import ManifestCaptioner
    >>> ds = SimpleNamespace(rows={"a": {"caption": "a dog"}})
    >>> training_captions(ds, ManifestCaptioner(), draws=1)
    ['a dog', 'a dog']
    """
    import random

    rng = random.Random(0)
    # ordered captions set aside for L_t are tokenized too
    ordered = getattr(captioner, "ordered_captions", lambda row, train, rng: [])
    texts = []
    for row in dataset.rows.values():
        for train in [False] + [True] * draws:
            texts += captioner(row, train, rng) + ordered(row, train, rng)
    return texts


def prepare_tokenizer(
    tokenizer, texts: Iterable[str], folder: str, vocab_size: Optional[int]
) -> None:
    """Train a SentencePiece tokenizer on ``texts`` unless it is loaded already.

    Trained on the main process only; every process then loads the file.

    Arguments
    ---------
    tokenizer : object
        The model's tokenizer; only an unloaded :class:`SentencePieceTokenizer`
        is trained.
    texts : iterable of str
        Training captions (and prompts).
    folder : str
        Where to write ``tokenizer.model``.
    vocab_size : int, optional
        Target vocabulary size (at most the embedding table); needed when training.
    """
    if not isinstance(tokenizer, SentencePieceTokenizer) or tokenizer.is_loaded:
        return
    if vocab_size is None:
        raise ValueError(
            "a SentencePiece tokenizer is trained here but the model file gives "
            "no tokenizer_vocab_size"
        )
    prefix = os.path.join(folder, "tokenizer")
    texts = list(texts)
    run_on_main(
        train_sentencepiece,
        kwargs={"texts": texts, "model_prefix": prefix, "vocab_size": vocab_size},
    )
    tokenizer.load(prefix + ".model")
    logger.info("tokenizer trained on %d captions: %s.model", len(texts), prefix)


def training_set(hparams: Dict, manifest_path: str, **manifest_kwargs):
    """The training dataset: the tar shards of YAML ``train_shards``, else the manifest.

    ``train_shards`` is a glob of shards written from the training manifest
    (``python -m speechbrain_tclap.data.shards write``), built by the same
    ``train_sample_builder``. With ``train_dataloader_opts: shuffle: True``
    shards are shuffled every epoch and each worker draws from a buffer of
    ``shard_shuffle_buffer`` samples (default 1000); otherwise in order.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``train_sample_builder``, ``train_dataloader_opts``,
        optionally ``train_shards``, ``shard_shuffle_buffer``, ``seed``).
    manifest_path : str
        The training manifest (read when ``train_shards`` is not set).
    **manifest_kwargs : dict
        Passed to :func:`~speechbrain_tclap.data.datasets.make_clap_dataset`.

    Returns
    -------
    Dataset
        A ``DynamicItemDataset`` or a :class:`~speechbrain_tclap.data.shards.ShardDataset`.
    """
    builder = hparams["train_sample_builder"]
    if not hparams.get("train_shards"):
        return make_clap_dataset(manifest_path, builder, train=True, **manifest_kwargs)
    options = hparams["train_dataloader_opts"]
    shuffle = bool(options.get("shuffle", False))
    return ShardDataset(
        hparams["train_shards"],
        builder,
        train=True,
        batch_size=options.get("batch_size", 1),
        shuffle_shards=shuffle,
        shuffle_buffer=hparams.get("shard_shuffle_buffer", 1000) if shuffle else 0,
        seed=hparams.get("seed", 0),
    )


def train_loader_options(hparams: Dict, train_set) -> Dict:
    """``train_dataloader_opts``, with ``train_batch_sampler`` when given.

    ``train_batch_sampler`` (YAML, optional) is a callable taking the
    training dataset and returning a batch sampler, e.g. duration buckets::

        train_batch_sampler: !name:speechbrain_tclap.data.samplers.duration_bucketed_sampler
            max_batch_seconds: 320
            num_buckets: 10
            max_seconds: !ref <clip_seconds>
            seed: !ref <seed>

    or ``!name:speechbrain_tclap.data.samplers.PairAwareBatchSampler``; the
    options' ``batch_size`` and ``shuffle`` are then dropped.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters.
    train_set : Dataset
        The training dataset.

    Returns
    -------
    dict
        Keyword arguments of ``make_dataloader``.

    Example
    -------
    >>> hparams = {"train_dataloader_opts": {"batch_size": 4, "shuffle": True},
    ...            "train_batch_sampler": lambda data: [[i] for i in range(len(data))]}
    >>> train_loader_options(hparams, ["a", "b"])
    {'batch_sampler': [[0], [1]]}
    """
    options = dict(hparams["train_dataloader_opts"])
    make_sampler = hparams.get("train_batch_sampler")
    if make_sampler is None:
        return options
    if isinstance(train_set, ShardDataset):
        raise ValueError(
            "train_batch_sampler needs an indexed dataset; it cannot batch the "
            "streamed train_shards (set one of them to null)"
        )
    return loader_options_with_batch_sampler(options, make_sampler(train_set))


def export_experiment(hparams: Dict, hparams_file: str) -> str:
    """Draw the validation curves and export a pretrained-interface folder.

    Call after :meth:`~speechbrain_tclap.brain.CLAPBrain.evaluate` (the export
    holds the tested checkpoint). The curves (``validation_curves.png``) are
    drawn on the main process; every rank takes part in the export, which
    reads the experiment's resolved ``hyperparams.yaml``.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``train_log``, ``output_folder``, ``model``,
        ``export_folder``; optionally ``zero_shot_template``, ``zero_shot_classes``,
        ``data_folder``, ``model_card``: license, datasets, tags, training_data).
    hparams_file : str
        The recipe's YAML (the curves' title).

    Returns
    -------
    str
        The export folder.
    """
    if sb.utils.distributed.if_main_process():
        plot_curves(
            hparams["train_log"],
            os.path.join(hparams["output_folder"], "validation_curves.png"),
            title=os.path.basename(hparams_file),
        )
    name = hparams.get("experiment_name", "model")
    data = hparams.get("data_folder")
    card = {
        "name": name,
        "classes": hparams.get("zero_shot_classes"),
        "training_data": data and f"The training split of `{os.path.basename(os.path.normpath(data))}` "
        f"as the recipe experiment `{name}` prepares it (seed {hparams.get('seed')}).",
        **(hparams.get("model_card") or {}),  # YAML: license, datasets, tags, training_data
    }
    export_pretrained(
        os.path.join(hparams["output_folder"], "hyperparams.yaml"),
        hparams["model"]["loadables"],
        hparams["export_folder"],
        zero_shot_template=hparams.get("zero_shot_template", DEFAULT_PROMPT_TEMPLATE),
        card=card,
    )
    return hparams["export_folder"]


def write_pair_manifests(
    manifests: Dict[str, str],
    num_pairs: Dict[str, int],
    seed: int,
    folder: str,
    include_singles: bool = True,
    single_repeats: Optional[Dict[str, int]] = None,
) -> Dict[str, str]:
    """Per split: seeded pairs drawn from the split's own single-event clips.

    Pairs never mix two splits (ESC-50: folds). Split ``k`` in sorted order
    draws with ``seed + k``.

    Arguments
    ---------
    manifests : dict
        ``{split: manifest path}`` of single clips.
    num_pairs : dict
        ``{split: number of pairs}``.
    seed : int
        Base seed of the draws.
    folder : str
        Where ``<split>_mixed.json`` (with the single clips) or
        ``<split>_pairs.json`` (pairs only) is written.
    include_singles : bool
        Keep the split's single clips as rows too.
    single_repeats : dict, optional
        ``{split: k}``: each single clip appears ``k`` times (ids ``<id>@1`` ...
        ``<id>@<k-1>``; a random crop makes each a new view); default 1.

    Returns
    -------
    dict
        ``{split: written manifest path}``.

    Example
    -------
    >>> import json
    >>> tmp = getfixture("tmpdir")
    >>> rows = {f"c{i}": {"wav": f"c{i}.wav", "labels": [lab]}
    ...         for i, lab in enumerate(["dog", "rain", "bell"])}
    >>> _ = (tmp / "test.json").write(json.dumps(rows))
    >>> out = write_pair_manifests({"test": str(tmp / "test.json")}, {"test": 2}, 0,
    ...                            str(tmp), include_singles=False)
    >>> len(load_manifest(out["test"], required=("id", "a", "b")))
    2
    >>> out = write_pair_manifests({"test": str(tmp / "test.json")}, {"test": 2}, 0,
    ...                            str(tmp), single_repeats={"test": 3})
    >>> len(load_manifest(out["test"], required=("id",)))  # 3 clips x 3 + 2 pairs
    11
    """
    name = "mixed" if include_singles else "pairs"
    out = {}
    for offset, (split, path) in enumerate(sorted(manifests.items())):
        singles = load_manifest(path, required=("id", "wav"))
        pairs = make_pair_rows(list(singles.values()), num_pairs[split], seed=seed + offset)
        rows = {p["id"]: p for p in pairs}
        if include_singles:
            repeats = (single_repeats or {}).get(split, 1)
            if repeats < 1:
                raise ValueError(f"single_repeats[{split!r}] must be >= 1, got {repeats}")
            copies = {
                f"{key}@{k}": {**row, "id": f"{key}@{k}"}
                for key, row in singles.items()
                for k in range(1, repeats)
            }
            rows = {**singles, **copies, **rows}
        out[split] = os.path.join(folder, f"{split}_{name}.json")
        write_manifest(rows, out[split])
    return out


def split_classes(
    manifests: Dict[str, str], train_classes: Iterable[str], folder: str
) -> Dict[str, str]:
    """Class-disjoint splits: training classes for training, the rest for test.

    ``train``/``valid`` keep the clips whose labels are all in
    ``train_classes``, ``test`` those whose labels are all outside it.

    Arguments
    ---------
    manifests : dict
        ``{split: manifest path}`` of single clips (rows with ``labels``).
    train_classes : iterable of str
        Classes the model trains on.
    folder : str
        Where ``<split>_classes.json`` is written.

    Returns
    -------
    dict
        ``{split: written manifest path}``.

    Example
    -------
    >>> import json
    >>> tmp = getfixture("tmpdir")
    >>> rows = {f"c{i}": {"wav": f"c{i}.wav", "labels": [lab]}
    ...         for i, lab in enumerate(["dog", "rain", "bell"])}
    >>> _ = (tmp / "all.json").write(json.dumps(rows))
    >>> out = split_classes({"train": str(tmp / "all.json"),
    ...                      "test": str(tmp / "all.json")}, ["dog", "rain"], str(tmp))
    >>> [sorted(load_manifest(out[s], required=("id",))) for s in ("train", "test")]
    [['c0', 'c1'], ['c2']]
    """
    train_classes = set(train_classes)
    out = {}
    for split, path in manifests.items():
        rows = load_manifest(path, required=("id", "labels"))
        held_out = split == "test"
        kept = {
            key: row for key, row in rows.items()
            if all((label in train_classes) != held_out for label in row["labels"])
        }
        if not kept:
            raise ValueError(
                f"split_classes: no {split} clip left in {path} with "
                f"train_classes={sorted(train_classes)}"
            )
        out[split] = os.path.join(folder, f"{split}_classes.json")
        write_manifest(kept, out[split])
    return out


def _weights_file(folder: str, name: str) -> str:
    """``<name>.safetensors`` of an export when there is one, else ``<name>.ckpt``."""
    safetensors = os.path.join(folder, f"{name}.safetensors")
    return safetensors if os.path.isfile(safetensors) else os.path.join(folder, f"{name}.ckpt")


def init_weight_sources(hparams: Dict) -> List[Dict[str, Optional[str]]]:
    """The entries of YAML ``init_weights``, checked before any data work.

    ``init_weights`` is null (random initialisation), one source or a list.
    A source is a path or ``{source: path, into: name}``, ``into`` being a
    model loadable (``clap``) or a module in one (``clap.audio_encoder``):

    * a folder without ``into``: an export (``<loadable>.safetensors`` or
      ``.ckpt`` per ``model[loadables]`` entry, e.g. TeminAL stage A's);
    * a folder with ``into``: the loadable's file, or for a module
      ``<last part of into>.ckpt`` (the multi-task ``encoder/`` folder);
    * a file, into ``into`` (default ``clap``; into ``clap`` through
      :func:`speechbrain_tclap.convert.pretrainer.load_any_checkpoint`, which
      converts LAION-CLAP, MS-CLAP and MGA-CLAP checkpoints).

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``init_weights``, ``model``).

    Returns
    -------
    list of dict
        ``{"source", "into", "path"}`` per file to load.

    Raises
    ------
    ValueError
        An entry with other keys, or ``into`` naming no loadable.
    FileNotFoundError
        A file is missing (named, with what to run first).

    Example
    -------
    >>> init_weight_sources({"init_weights": None})
    []
    >>> folder = getfixture("tmpdir")
    >>> _ = (folder / "audio_encoder.ckpt").write("")
    >>> [e["path"] == str(folder / "audio_encoder.ckpt") for e in init_weight_sources(
    ...     {"init_weights": [{"source": str(folder), "into": "clap.audio_encoder"}],
    ...      "model": {"loadables": {"clap": None}}})]
    [True]
    """
    spec = hparams.get("init_weights")
    if spec is None:
        return []
    loadables = hparams["model"]["loadables"]
    entries = []
    for item in spec if isinstance(spec, (list, tuple)) else [spec]:
        item = dict(item) if isinstance(item, Mapping) else {"source": item}
        if set(item) - {"source", "into"} or "source" not in item:
            raise ValueError(f"init_weights: entries are a path or {{source, into}}, got {item}")
        source, into = str(item["source"]), item.get("into")
        if into is not None and str(into).split(".")[0] not in loadables:
            raise ValueError(
                f"init_weights: into={into!r} is not in a model loadable {sorted(loadables)}"
            )
        folder = os.path.isdir(source)
        names = list(loadables) if into is None and folder else [str(into or "clap")]
        paths = [
            source if not folder
            else _weights_file(source, name) if name in loadables  # a whole loadable
            else os.path.join(source, name.rsplit(".", 1)[-1] + ".ckpt")  # a module's state dict
            for name in names
        ]
        missing = [path for path in paths if not os.path.isfile(path)]
        if missing:
            raise FileNotFoundError(
                f"init_weights: {missing} not found (source {source!r}). Run the "
                "experiment it comes from first (TeminAL stage B starts from stage "
                "A's export_folder, stage A from a CLAP export such as clap.yaml's; "
                "recipes/MultiTask/Encoder writes encoder/audio_encoder.ckpt; "
                "fine-tuning starts from a local LAION-CLAP .pt, docs/pretrained.md), "
                "or set init_weights: null (random initialisation)"
            )
        entries += [{"source": source, "into": n, "path": p} for n, p in zip(names, paths)]
    return entries


def init_weights(hparams: Dict) -> List[Dict[str, Optional[str]]]:
    """Load YAML ``init_weights`` into the model before training.

    Whole loadables go through SpeechBrain's ``Pretrainer`` (``clap`` via
    :func:`~speechbrain_tclap.convert.pretrainer.load_any_checkpoint`); a
    module inside one takes a state dict; both strictly. A resumed run's
    checkpoint still wins (recovery happens later, in ``fit``).

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``model``, ``init_weights``, ``freezing``).

    Returns
    -------
    list of dict
        The entries loaded (:func:`init_weight_sources`).

    Example
    -------
    >>> init_weights({"init_weights": None})
    []
    """
    entries = init_weight_sources(hparams)
    if not entries and hparams.get("freezing") is not None:
        logger.warning(
            "init_weights is null but a freezing rule is set: the frozen "
            "parameters keep their random initialisation"
        )
    loadables = hparams["model"]["loadables"] if entries else {}
    whole = {e["into"]: e["path"] for e in entries if e["into"] in loadables}
    if whole:
        from speechbrain.utils.parameter_transfer import Pretrainer

        from speechbrain_tclap.convert.pretrainer import load_any_checkpoint

        pretrainer = Pretrainer(
            loadables={name: loadables[name] for name in whole},
            paths={name: os.path.abspath(path) for name, path in whole.items()},
            custom_hooks={"clap": load_any_checkpoint},  # converts foreign files
        )
        # Local files read in place on every rank: a collection folder would
        # keep a stale link to an earlier run's file (SpeechBrain reuses links).
        pretrainer.collect_files()
        pretrainer.load_collected()
    for entry in entries:
        if entry["into"] not in loadables:
            from speechbrain_tclap.multitask.encoder import load_audio_encoder

            root, *inner = entry["into"].split(".")
            module = loadables[root]
            for name in inner:
                module = getattr(module, name)
            load_audio_encoder(module, entry["path"], key="init_weights")
    for source in dict.fromkeys(e["source"] for e in entries):
        names = [e["into"] for e in entries if e["source"] == source]
        logger.info("initialised %s from %s", ", ".join(names), source)
    return entries


def vocabulary_texts(hparams: Dict, labels: Iterable[str]) -> List[str]:
    """Texts a from-scratch tokenizer must cover besides the training captions.

    The zero-shot prompts, every caption a builder with ``all_captions``
    can write (TeminAL's) and the prompts of ``extra_evaluations`` (ZSTE).

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters.
    labels : iterable of str
        Class labels of the training data.

    Returns
    -------
    list of str
        Texts.

    Example
    -------
    >>> vocabulary_texts({"zero_shot_template": "A {}.", "temporal_vocabulary": False}, ["dog"])
    ['A dog.']
    """
    labels = list(labels)
    texts = class_prompts(labels, hparams.get("zero_shot_template"))
    builder = hparams.get("train_sample_builder")
    if hasattr(builder, "all_captions"):
        texts += builder.all_captions(labels)
    for evaluator in hparams.get("extra_evaluations") or []:
        if hasattr(evaluator, "prompts"):
            texts += evaluator.prompts(labels)
    if hparams.get("temporal_vocabulary", True):
        texts += temporal_vocabulary(labels)
    return texts


def temporal_vocabulary(labels: Iterable[str]) -> List[str]:
    """TeminAL captions (both stages) and the default ZSTE prompts of ``labels``.

    A from-scratch tokenizer covers them so any export can later be
    post-trained with TeminAL or scored with ZSTE without its words split
    into characters (YAML ``temporal_vocabulary: False`` leaves them out).

    Arguments
    ---------
    labels : iterable of str
        Class labels.

    Returns
    -------
    list of str
        Captions and prompts.

    Example
    -------
    >>> texts = temporal_vocabulary(["dog", "rain"])
    >>> "Single sound of dog" in texts, "dog before rain" in texts
    (True, True)
    """
    from speechbrain_tclap.data.teminal import TeminALViewBuilder
    from speechbrain_tclap.data.temporal import TemporalViewBuilder
    from speechbrain_tclap.data.zste_prompts import ZSTEPrompts

    labels = list(labels)
    views = TemporalViewBuilder(16000, 1.0)  # captions only: no audio is made
    return TeminALViewBuilder(views, stage="A").all_captions(labels) + ZSTEPrompts(
        views
    ).prompts(labels)


def negative_coverage(rows: Mapping[str, Dict], builder) -> Optional[Dict[str, int]]:
    """How many captions of ``rows`` get an order-swapped negative, and from where.

    Asks the negative provider of ``builder``'s captioner about every
    caption; None when the builder adds no order negatives.

    Arguments
    ---------
    rows : mapping
        Manifest rows ``{id: row}`` with ``captions`` or ``caption``.
    builder : ClipSampleBuilder
        A sample builder (``order_negatives`` and ``captioner.negatives``).

    Returns
    -------
    dict or None
        ``{"captions", "with_negative", "cache", "rule"}``.

    Example
    -------
    >>> from speechbrain_tclap.data.caption_negatives import CaptionNegativeProvider
    >>> from speechbrain_tclap.data.datasets import ClipSampleBuilder, ManifestCaptioner
    >>> builder = ClipSampleBuilder(16000, 1.0, order_negatives=True,
    ...     captioner=ManifestCaptioner(negatives=CaptionNegativeProvider()))
    >>> negative_coverage({"a": {"captions": ["rain then wind", "rain"]}}, builder)
    {'captions': 2, 'with_negative': 1, 'cache': 0, 'rule': 1}
    """
    provider = getattr(getattr(builder, "captioner", None), "negatives", None)
    if not getattr(builder, "order_negatives", False) or provider is None:
        return None
    before = dict(provider.counts)
    items = caption_items(rows)
    found = sum(provider(cid, caption) is not None for cid, caption in items)
    coverage = {"captions": len(items), "with_negative": found}
    for source in ("cache", "rule"):
        coverage[source] = provider.counts[source] - before[source]
    return coverage


def caption_datasets(hparams: Dict, manifests: Mapping[str, str]) -> Dict:
    """The train / valid / test datasets of a prepared caption corpus.

    YAML ``splits`` maps ``train``, ``valid``, ``test`` to keys of
    ``manifests``; training uses ``train_sample_builder``, the others
    ``eval_sample_builder``. The order-negative coverage is logged.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters.
    manifests : mapping
        ``{corpus split name: manifest path}``.

    Returns
    -------
    dict
        ``{"train", "valid", "test"}`` datasets.
    """
    splits = dict(hparams["splits"])
    if set(splits) != {"train", "valid", "test"}:
        raise ValueError(
            f"splits must map train, valid and test to split names, got {splits}"
        )
    builders = {
        "train": hparams["train_sample_builder"],
        "valid": hparams["eval_sample_builder"],
        "test": hparams["eval_sample_builder"],
    }
    datasets = {
        role: make_clap_dataset(manifests[name], builders[role], train=False)
        for role, name in splits.items() if role != "train"
    }
    datasets["train"] = training_set(hparams, manifests[splits["train"]])
    coverage = negative_coverage(datasets["train"].rows, hparams["train_sample_builder"])
    if coverage is not None:
        logger.info(
            "order-swapped negatives for %d of %d training captions "
            "(LLM cache %d, rules %d)",
            coverage["with_negative"],
            coverage["captions"],
            coverage["cache"],
            coverage["rule"],
        )
        if not coverage["with_negative"]:
            logger.warning(
                "no training caption has an order-swapped negative, so the "
                "temporal loss sees none (captions need a sequential connective "
                "such as 'followed by' or 'then', or an entry in the LLM cache)"
            )
    return datasets


def check_finetuning_inputs(hparams: Dict, hparams_file: str) -> None:
    """Fail before any data work when a fine-tuning lacks its starting files.

    ``init_weights`` (e.g. a LAION-CLAP ``.pt``) must be set and the text
    tower needs its ``tokenizer_folder``; nothing is downloaded.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``recipes/AudioCaps/CLAP/hparams``).
    hparams_file : str
        The YAML file (named in errors).

    Raises
    ------
    FileNotFoundError
        ``init_weights`` is not set.
    RuntimeError
        ``tokenizer_folder`` is not set.
    """
    if not init_weight_sources(hparams):
        raise FileNotFoundError(
            f"{hparams_file}: init_weights is not set. Fine-tuning starts from a "
            "LAION-CLAP checkpoint (.pt) of the model file's architecture, given as "
            "--init_weights=/path/to/file.pt; nothing is downloaded "
            "(docs/pretrained.md lists the files)"
        )
    tokenizer = hparams["model"]["tokenizer"]
    if isinstance(tokenizer, MissingTokenizer):
        raise RuntimeError(f"{hparams_file}: {tokenizer.message}")
