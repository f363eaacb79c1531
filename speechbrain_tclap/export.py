"""Export a trained model as a SpeechBrain pretrained-interface folder.

Recipes define their model under one YAML key, ``model``: a mapping holding
at least ``sample_rate``, ``clap`` (the CLAP module) and ``loadables`` (the
objects whose weights the folder must carry: the CLAP module and, for
from-scratch text towers, the tokenizer). :func:`export_pretrained` writes

* ``hyperparams.yaml``: that ``model`` mapping (copied from the experiment's
  resolved ``hyperparams.yaml``, so command-line overrides are kept) plus the
  ``modules``, ``pretrainer`` and ``audio_normalizer`` an interface needs;
* ``<name>.ckpt`` for each loadable (state dicts, or the tokenizer model).

The folder loads offline with
``speechbrain_tclap.inference.CLAP.from_hparams(source=folder)``.

Authors
 * speechbrain-tclap developers 2026
"""

import io
import os
from typing import Dict

import ruamel.yaml
import torch
from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook
from speechbrain.utils.distributed import ddp_barrier, if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.captions import DEFAULT_PROMPT_TEMPLATE

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

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
{loadables}
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
) -> str:
    """Write a pretrained-interface folder.

    Arguments
    ---------
    hparams_yaml_path : str
        The experiment's resolved ``hyperparams.yaml``.
    loadables : dict
        Name -> object (the trained instances) whose weights are saved as
        ``<name>.ckpt``; the names must match ``model[loadables]`` in YAML.
    folder : str
        Output folder (created).
    zero_shot_template : str
        Default prompt template stored for the interface.

    Returns
    -------
    str
        The folder.

    Notes
    -----
    Under DDP every rank must call it: SpeechBrain's save hooks run on the
    main process and broadcast to the others; files are written by the
    main process only.
    """
    main = if_main_process()
    if main:
        os.makedirs(folder, exist_ok=True)
    for name, obj in loadables.items():
        path = os.path.join(folder, f"{name}.ckpt")
        module = getattr(obj, "module", obj)  # a DDP wrapper holds the module
        if isinstance(module, torch.nn.Module):
            if main:
                torch.save(module.state_dict(), path)
            continue
        hook = get_default_hook(obj, DEFAULT_SAVE_HOOKS)
        if hook is None:
            raise TypeError(f"do not know how to save loadable {name!r} ({type(obj)})")
        hook(obj, path)  # main-process-only hooks broadcast to the other ranks
    if main:
        loadable_lines = "\n".join(
            f"        {name}: !ref <model[loadables][{name}]>" for name in loadables
        )
        text = model_yaml_section(hparams_yaml_path) + _INTERFACE_YAML.format(
            template=_yaml_string(zero_shot_template), loadables=loadable_lines
        )
        with open(os.path.join(folder, "hyperparams.yaml"), "w") as f:
            f.write(text)
        logger.info("exported pretrained interface to %s", folder)
    ddp_barrier()
    return folder


def _yaml_string(value: str) -> str:
    """Quote a string for YAML."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
