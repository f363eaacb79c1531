"""The loading path of foreign checkpoints: a ``Pretrainer`` hook for ``CLAP``.

``CLAP``'s own transfer hook (:meth:`speechbrain_tclap.lobes.clap.CLAP._load_pretrained`)
loads our state dicts only. A LAION-CLAP ``.pt``, a Hugging Face
``ClapModel`` file, an msclap ``.pth`` or MGA-CLAP's ``model.pt`` loads
through :func:`load_any_checkpoint`, given to SpeechBrain's ``Pretrainer`` as
the custom hook of the ``clap`` loadable. In YAML (as every file of
``hparams/pretrained`` does)::

    pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
        loadables:
            clap: !ref <clap>
        paths:
            clap: !ref <checkpoint>
        custom_hooks:
            clap: !name:speechbrain_tclap.convert.pretrainer.load_any_checkpoint

and in Python ``Pretrainer(..., custom_hooks={"clap": load_any_checkpoint})``
(:func:`speechbrain_tclap.recipe.init_model_from` does so).

Authors
 * speechbrain-tclap developers 2026
"""

from speechbrain.utils.logger import get_logger

from speechbrain_tclap.convert.hf import read_checkpoint
from speechbrain_tclap.convert.registry import convert_state_dict, unwrap_checkpoint

logger = get_logger(__name__)


def load_any_checkpoint(clap, path) -> None:
    """Strict, weights-only load of any known checkpoint into a ``CLAP`` module.

    Native checkpoints load as they are; foreign ones (LAION-CLAP, Hugging
    Face, msclap, MGA-CLAP, ...) are detected and converted by
    :func:`speechbrain_tclap.convert.registry.convert_state_dict` first, with
    a logged summary of renamed and dropped keys. A checkpoint that does not
    fit the architecture fails loudly (SpeechBrain's default transfer for
    modules is non-strict and only warns).

    Arguments
    ---------
    clap : speechbrain_tclap.lobes.clap.CLAP
        The module to load into.
    path : str or pathlib.Path
        A checkpoint file (weights-only torch or safetensors).

    Example
    -------
    >>> import torch
    >>> path = getfixture("tmpdir") / "clap.ckpt"
    >>> torch.save({"model": {"log_logit_scale": torch.tensor(2.0)}}, str(path))
    >>> class Scale(torch.nn.Module):  # a stand-in with CLAP's native key
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.log_logit_scale = torch.nn.Parameter(torch.tensor(0.0))
    >>> module = Scale()
    >>> load_any_checkpoint(module, path)
    >>> module.log_logit_scale.item()
    2.0
    """
    # weights_only torch.load or safetensors; errors name the file.
    loaded = read_checkpoint(path)
    state_dict, report, fmt = convert_state_dict(unwrap_checkpoint(loaded))
    if fmt != "native":
        logger.info("converted %s checkpoint %s: %s", fmt, path, report.summary())
    try:
        clap.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:  # missing/unexpected keys or shapes: name the file
        raise RuntimeError(f"{path}: {err}") from err
    logger.info("loaded CLAP weights from %s (%d tensors)", path, len(state_dict))
