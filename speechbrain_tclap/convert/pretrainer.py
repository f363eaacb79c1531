"""The loading path of foreign checkpoints: a ``Pretrainer`` hook for ``CLAP``.

``CLAP``'s own transfer hook loads our state dicts only; a LAION-CLAP, Hugging
Face, msclap or MGA-CLAP file loads through :func:`load_any_checkpoint`, the
custom hook of the ``clap`` loadable (as in every file of ``hparams/pretrained``)::

    pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
        loadables:
            clap: !ref <clap>
        paths:
            clap: !ref <checkpoint>
        custom_hooks:
            clap: !name:speechbrain_tclap.convert.pretrainer.load_any_checkpoint

or in Python ``Pretrainer(..., custom_hooks={"clap": load_any_checkpoint})``.

Authors
 * speechbrain-tclap developers 2026
"""

import os

from speechbrain.utils.logger import get_logger
from speechbrain.utils.parameter_transfer import Pretrainer

from speechbrain_tclap.convert.registry import convert_state_dict, unwrap_checkpoint
from speechbrain_tclap.utils.checkpointing import read_checkpoint

logger = get_logger(__name__)


def load_any_checkpoint(clap, path) -> None:
    """Strict, weights-only load of any known checkpoint into a ``CLAP`` module.

    Foreign checkpoints are detected and converted first
    (:func:`~speechbrain_tclap.convert.registry.convert_state_dict`, summary
    logged); one that does not fit the architecture fails, naming the file.

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
    loaded = read_checkpoint(path)
    state_dict, report, fmt = convert_state_dict(unwrap_checkpoint(loaded))
    if fmt != "native":
        logger.info("converted %s checkpoint %s: %s", fmt, path, report.summary())
    try:
        clap.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:  # missing/unexpected keys or shapes: name the file
        raise RuntimeError(f"{path}: {err}") from err
    logger.info("loaded CLAP weights from %s (%d tensors)", path, len(state_dict))


class FolderPretrainer(Pretrainer):
    """A ``Pretrainer`` whose loadables have files of their own names in the source folder.

    Exported folders keep weights in ``<name>.safetensors``, not the
    ``<name>.ckpt`` that ``Pretrainer`` fetches; ``filenames`` names them
    relative to the source ``from_hparams`` gives (local folder or Hub).

    Arguments
    ---------
    *args, **kwargs
        As SpeechBrain's ``Pretrainer``.
    filenames : dict, optional
        Loadable name -> file name in the source.

    Example
    -------
    >>> import torch
    >>> from safetensors.torch import save_file
    >>> folder = getfixture("tmp_path")
    >>> save_file({"log_logit_scale": torch.tensor(2.0)}, str(folder / "clap.safetensors"))
    >>> class Scale(torch.nn.Module):  # a stand-in with CLAP's native key
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.log_logit_scale = torch.nn.Parameter(torch.tensor(0.0))
    >>> module = Scale()
    >>> pretrainer = FolderPretrainer(collect_in=str(folder / "collected"),
    ...     loadables={"clap": module}, filenames={"clap": "clap.safetensors"},
    ...     custom_hooks={"clap": load_any_checkpoint})
    >>> _ = pretrainer.collect_files(default_source=str(folder))
    >>> pretrainer.load_collected()
    >>> module.log_logit_scale.item()
    2.0
    """

    def __init__(self, *args, filenames=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.filenames = dict(filenames or {})

    def collect_files(self, default_source=None, **kwargs):
        """As ``Pretrainer.collect_files``, ``filenames`` from ``default_source``.

        Arguments
        ---------
        default_source : str or pathlib.Path, optional
            Folder or Hub repository of the files.
        **kwargs
            As ``Pretrainer.collect_files``.

        Returns
        -------
        dict
            Loadable name -> local path.
        """
        if isinstance(default_source, (str, os.PathLike)):
            for name, filename in self.filenames.items():
                self.paths.setdefault(name, f"{default_source}/{filename}")
        return super().collect_files(default_source=default_source, **kwargs)
