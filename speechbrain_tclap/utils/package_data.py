"""Where the package's own files are: the interface and model YAML files.

The interface files (``pretrained/*.yaml``) and model files
(``models/*.yaml``) ship inside the wheel as ``speechbrain_tclap/_hparams``;
a checkout (editable install, ``PYTHONPATH``) reads ``hparams/`` beside the
package.

Authors
 * speechbrain-tclap developers 2026
"""

import pathlib


def hparams_folder() -> pathlib.Path:
    """The folder holding ``models/`` and ``pretrained/``.

    Returns
    -------
    pathlib.Path
        ``speechbrain_tclap/_hparams`` of an installed wheel, else the
        checkout's ``hparams/`` (editable installs and ``PYTHONPATH``).

    Example
    -------
    >>> (hparams_folder() / "pretrained" / "msclap_2023.yaml").is_file()
    True
    """
    package = pathlib.Path(__file__).resolve().parent.parent
    installed = package / "_hparams"
    return installed if installed.is_dir() else package.parent / "hparams"
