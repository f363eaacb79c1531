"""Export a trained model as a Hub-ready SpeechBrain pretrained-interface folder.

Recipes define their model under one YAML key, ``model``: a mapping with at
least ``sample_rate``, ``clap`` (the CLAP module) and ``loadables`` (what the
folder carries: the CLAP module and, for from-scratch text towers, the
tokenizer). :func:`export_pretrained` writes ``hyperparams.yaml`` (that mapping
from the experiment's resolved YAML, overrides kept, plus the ``modules``,
``pretrainer`` and ``audio_normalizer`` of an interface), ``<name>.safetensors``
per module (``<name>.ckpt`` for the tokenizer) and a model card ``README.md``
(:func:`model_card`). The folder loads offline with
``speechbrain_tclap.inference.CLAP.from_hparams(source=folder)`` (folders with
``clap.ckpt`` load too); :func:`publish_folder` uploads it to the Hugging Face
Hub (``speechbrain-tclap publish``).

Authors
 * speechbrain-tclap developers 2026
"""

import io
import json
import os
from typing import Dict, Optional, Sequence

import ruamel.yaml
import torch
import yaml
from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook
from speechbrain.utils.distributed import ddp_barrier, if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.captions import DEFAULT_PROMPT_TEMPLATE
from speechbrain_tclap.utils.checkpointing import nonfinite_entries
from speechbrain_tclap.utils.distributed import unwrap_module

logger = get_logger(__name__)

_INTERFACE_YAML = """
# ---- interface part, written by speechbrain_tclap.export ----
sample_rate: !ref <model[sample_rate]>
clap: !ref <model[clap]>
zero_shot_template: {template}

audio_normalizer: !new:speechbrain.dataio.preprocess.AudioNormalizer
    sample_rate: !ref <sample_rate>

modules:
    clap: !ref <clap>

pretrainer: !new:speechbrain_tclap.convert.pretrainer.FolderPretrainer
    loadables:
{loadables}
    filenames:
{filenames}
    custom_hooks:
{hooks}
"""


def model_yaml_section(hparams_yaml_path: str, key: str = "model") -> str:
    """Return the YAML text of one top-level mapping of a hyperparams file.

    Arguments
    ---------
    hparams_yaml_path : str
        A resolved ``hyperparams.yaml`` (as written by
        ``speechbrain.create_experiment_directory``).
    key : str
        The top-level key to keep.

    Returns
    -------
    str
        YAML text with ``key`` as its only top-level key.

    Example
    -------
    >>> path = getfixture("tmpdir") / "h.yaml"
    >>> _ = path.write("lr: 1\\nmodel:\\n    sample_rate: 16000\\n")
    >>> print(model_yaml_section(str(path)).strip())
    model:
      sample_rate: 16000
    """
    yaml = ruamel.yaml.YAML()
    with open(hparams_yaml_path) as f:
        tree = yaml.load(f)
    if key not in tree:
        raise KeyError(
            f"{hparams_yaml_path} has no top-level '{key}' mapping; a "
            "recipe must define its model under that key to be exported"
        )
    out = io.StringIO()
    yaml.dump({key: tree[key]}, out)
    return out.getvalue()


def export_pretrained(
    hparams_yaml_path: str,
    loadables: Dict[str, object],
    folder: str,
    zero_shot_template: str = DEFAULT_PROMPT_TEMPLATE,
    card: Optional[dict] = None,
) -> str:
    """Write a pretrained-interface folder with its model card.

    Arguments
    ---------
    hparams_yaml_path : str
        The experiment's resolved ``hyperparams.yaml``; a ``results.json``
        beside it gives the card its metrics.
    loadables : dict
        Name -> trained object (modules -> ``<name>.safetensors``, others by
        their save hook -> ``<name>.ckpt``); names as ``model[loadables]``.
    folder : str
        Output folder (created).
    zero_shot_template : str
        Default prompt template stored for the interface.
    card : dict, optional
        ``license``, ``datasets``, ``tags``, ``training_data``, ``classes``,
        ``name`` for the card (:func:`model_card`).

    Returns
    -------
    str
        The folder.

    Raises
    ------
    ValueError
        A module's weights hold NaN or Inf (the parameters are named);
        nothing is written.
    PermissionError
        ``folder`` cannot be written (named).

    Notes
    -----
    Under DDP every rank must call it (save hooks broadcast from the main
    process, which alone writes files).
    """
    from safetensors.torch import save_file

    modules = {name: unwrap_module(obj) for name, obj in loadables.items()}
    for name, module in modules.items():
        bad = nonfinite_entries(module.state_dict()) if isinstance(module, torch.nn.Module) else []
        if bad:
            raise ValueError(
                f"refusing to export {name!r} to {folder}: {len(bad)} tensors hold NaN "
                f"or Inf, e.g. {bad[:3]} (the training diverged)"
            )
    main = if_main_process()
    if main:
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"cannot export: the folder {folder} is not writable")
    files = {}
    for name, obj in loadables.items():
        module = modules[name]
        if isinstance(module, torch.nn.Module):
            files[name] = f"{name}.safetensors"
            if main:  # copies: safetensors refuses tensors that share memory
                state = {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}
                save_file(state, os.path.join(folder, files[name]))
            continue
        hook = get_default_hook(obj, DEFAULT_SAVE_HOOKS)
        if hook is None:
            raise TypeError(f"do not know how to save loadable {name!r} ({type(obj)})")
        hook(obj, os.path.join(folder, f"{name}.ckpt"))  # main-process-only hooks broadcast
    if main:
        text = model_yaml_section(hparams_yaml_path) + _INTERFACE_YAML.format(
            template=_yaml_string(zero_shot_template),
            loadables=_yaml_lines({n: f"!ref <model[loadables][{n}]>" for n in loadables}),
            filenames=_yaml_lines(files),
            hooks=_yaml_lines({n: f"!name:{_LOAD_ANY}" for n in files}),
        )
        with open(os.path.join(folder, "hyperparams.yaml"), "w") as f:
            f.write(text)
        results = os.path.join(os.path.dirname(hparams_yaml_path), "results.json")
        with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
            f.write(model_card(card or {}, zero_shot_template, results, sorted(files.values())))
        logger.info("exported pretrained interface to %s", folder)
    ddp_barrier()
    return folder


_LOAD_ANY = "speechbrain_tclap.convert.pretrainer.load_any_checkpoint"
#: Where the usage snippet of a card says the folder is, until it is published.
REPO_PLACEHOLDER = "<user>/<model name>"


def model_card(
    card: dict, template: str, results_json: Optional[str] = None, weights: Sequence[str] = ()
) -> str:
    """A Hugging Face model card (``README.md``) of an exported folder.

    Arguments
    ---------
    card : dict
        Optional ``name``, ``license`` (default ``"other"``), ``datasets``,
        ``tags``, ``training_data`` (a sentence), ``classes`` (zero-shot labels).
    template : str
        The stored zero-shot prompt template.
    results_json : str, optional
        The experiment's ``results.json`` (``{"metrics", "chance"}``): metrics with
        a chance level go into ``model-index``, all into a table.
    weights : sequence of str
        The weight files of the folder.

    Returns
    -------
    str
        The card: YAML front matter, then markdown.

    Example
    -------
    >>> text = model_card({"name": "esc10-clap", "classes": ["dog", "rain"]}, "a {}")
    >>> text.splitlines()[:3]
    ['---', 'library_name: speechbrain', 'license: other']
    >>> "| dog, rain |" in text or "dog, rain" in text
    True
    """
    results = {"metrics": {}, "chance": {}}
    if results_json and os.path.isfile(results_json):
        with open(results_json, encoding="utf-8") as f:
            results = json.load(f)
    metrics, chance = results.get("metrics", {}), results.get("chance", {})
    name = card.get("name", "speechbrain-tclap model")
    datasets = list(card.get("datasets") or [])
    front = {
        "library_name": "speechbrain",
        "license": card.get("license", "other"),
        "tags": ["speechbrain", "speechbrain-tclap", "clap", "audio", "zero-shot-audio-classification"]
        + list(card.get("tags") or []),
        "datasets": datasets,
        "pipeline_tag": "zero-shot-audio-classification",
    }
    if set(metrics) & set(chance):
        front["model-index"] = [{"name": name, "results": [{
            "task": {"type": "zero-shot-audio-classification"},
            "dataset": {"name": datasets[0] if datasets else "test set of the recipe",
                        "type": datasets[0] if datasets else "custom"},
            "metrics": [  # those with a chance level; the card's table has all
                {"type": key, "value": round(float(value), 4),
                 "name": f"{key} (chance {float(chance[key]):.4f})"}
                for key, value in sorted(metrics.items()) if key in chance
            ],
        }]}]
    classes = card.get("classes") or []
    rows = "\n".join(
        f"| {k} | {float(v):.4f} | {float(chance[k]):.4f} |" if k in chance else f"| {k} | {float(v):.4f} | |"
        for k, v in sorted(metrics.items())
    )
    example_labels = json.dumps(list(classes[:3]) or ["dog barking", "rain"])
    return f"""---
{yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip()}
---

# {name}

A CLAP model (contrastive language-audio pretraining) trained with
speechbrain-tclap, a SpeechBrain plugin (installed, it loads this folder):
audio and text embeddings in one space, zero-shot classification, retrieval,
and frame-level grounding of captions.

## Training data

{card.get("training_data") or "Not stated by the exporter."}

## Classes

{", ".join(classes) if classes else "Open vocabulary: any label or caption (no fixed class list stored)."}

## Prompt template

Zero-shot labels are turned into prompts with `{template}` (stored in
`hyperparams.yaml` as `zero_shot_template`, used when no template is given).

## Results

{"| metric | value | chance |" + chr(10) + "|---|---|---|" + chr(10) + rows if rows else "No `results.json` was found beside the experiment."}

## Usage

```python
from speechbrain_tclap.inference import CLAP

clap = CLAP.from_hparams(source="{REPO_PLACEHOLDER}", savedir="pretrained_models/{name}")
probs, labels = clap.classify_zero_shot(["clip.wav"], {example_labels})
audio_emb = clap.encode_audio("clip.wav")  # L2-normalised embeddings
```

Files: `hyperparams.yaml` (architecture and interface), {", ".join(f"`{w}`" for w in weights) or "weights"}.
"""


def publish_folder(
    folder: str, repo_id: str, private: bool = False, token: Optional[str] = None
) -> str:
    """Upload an exported folder to the Hugging Face Hub (``speechbrain-tclap publish``).

    The card's usage snippet is pointed at ``repo_id`` first.

    Arguments
    ---------
    folder : str
        A folder written by :func:`export_pretrained`.
    repo_id : str
        ``user/name`` on the Hub (created if missing).
    private : bool
        Create the repository private.
    token : str, optional
        Hub token (default: the logged-in one).

    Returns
    -------
    str
        The URL of the upload's commit.

    Example
    -------
    >>> publish_folder("no/such/folder", "me/model")
    Traceback (most recent call last):
        ...
    FileNotFoundError: no/such/folder: no hyperparams.yaml (export the model first: speechbrain_tclap.export)
    """
    for required in ("hyperparams.yaml", "README.md"):
        if not os.path.isfile(os.path.join(folder, required)):
            raise FileNotFoundError(
                f"{folder}: no {required} (export the model first: speechbrain_tclap.export)"
            )
    from huggingface_hub import HfApi

    card_path = os.path.join(folder, "README.md")
    with open(card_path, encoding="utf-8") as f:
        card = f.read()
    with open(card_path, "w", encoding="utf-8") as f:
        f.write(card.replace(REPO_PLACEHOLDER, repo_id))
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=folder, repo_id=repo_id, commit_message="Upload speechbrain-tclap model"
    )
    logger.info("published %s to %s", folder, repo_id)
    return str(getattr(commit, "commit_url", commit))


def _yaml_lines(mapping: Dict[str, str]) -> str:
    """``key: value`` lines indented under a key of the pretrainer (``{}`` when empty)."""
    return "\n".join(f"        {k}: {v}" for k, v in mapping.items()) or "        {}"


def _yaml_string(value: str) -> str:
    """Quote a string for YAML."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
