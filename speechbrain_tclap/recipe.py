"""Steps shared by every recipe's ``train.py`` (so recipes stay thin).

* :func:`prepare_tokenizer`: train a from-scratch text tower's SentencePiece
  model on the training captions (skipped for pretrained tokenizers);
* :func:`run_clap_experiment`: build the ``CLAPBrain``, fit, test on the best
  checkpoint, and export a pretrained-interface folder.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Dict, Iterable, List

import speechbrain as sb
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.export import export_pretrained
from speechbrain_tclap.plotting import plot_curves
from speechbrain_tclap.lobes.tokenizers import (
    SentencePieceTokenizer,
    train_sentencepiece,
)

logger = get_logger(__name__)


def load_recipe_hparams(argv):
    """Parse the command line, start DDP if asked, and load the YAML.

    The first steps of every recipe's ``train.py``, in SpeechBrain's order.
    ``train.py`` then calls ``sb.create_experiment_directory`` itself, which
    copies the calling script into the experiment folder.

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

    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file) as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    return hparams_file, run_opts, overrides, hparams


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
    texts = []
    for row in dataset.rows.values():
        texts.extend(captioner(row, False, rng))
        for _ in range(draws):
            texts.extend(captioner(row, True, rng))
    return texts


def prepare_tokenizer(
    tokenizer, texts: Iterable[str], folder: str, vocab_size: int
) -> None:
    """Train a SentencePiece tokenizer on ``texts`` unless it is loaded already.

    Runs on the main process only; the other processes then load the file.

    Arguments
    ---------
    tokenizer : object
        The model's tokenizer; only a :class:`SentencePieceTokenizer` that is
        not loaded yet is trained.
    texts : iterable of str
        Training captions (and prompts).
    folder : str
        Where to write ``tokenizer.model``.
    vocab_size : int
        Target vocabulary size (must not exceed the embedding table).
    """
    if not isinstance(tokenizer, SentencePieceTokenizer) or tokenizer.is_loaded:
        return
    prefix = os.path.join(folder, "tokenizer")
    texts = list(texts)
    run_on_main(
        train_sentencepiece,
        kwargs={"texts": texts, "model_prefix": prefix, "vocab_size": vocab_size},
    )
    tokenizer.load(prefix + ".model")
    logger.info("tokenizer trained on %d captions: %s.model", len(texts), prefix)


def zero_shot_prompts(labels: Iterable[str], template: str) -> List[str]:
    """Prompts for class names (so the tokenizer sees the template's words).

    Arguments
    ---------
    labels : iterable of str
        Class labels.
    template : str
        Prompt with ``{}``.

    Returns
    -------
    list of str
        One prompt per label.

    Example
    -------
    >>> zero_shot_prompts(["dog_bark"], "This is a sound of {}.")
    ['This is a sound of dog bark.']
    """
    return [template.format(readable_label(label)) for label in labels]


def run_clap_experiment(
    hparams: Dict,
    run_opts: Dict,
    datasets: Dict,
    hparams_file: str,
) -> CLAPBrain:
    """Fit, test on the best validation checkpoint, and export the model.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (see ``recipes/Synthetic/CLAP/hparams``).
    run_opts : dict
        SpeechBrain run options.
    datasets : dict
        ``train``, ``valid`` and ``test`` datasets.
    hparams_file : str
        Unused beyond logging; the export reads the experiment's resolved
        ``hyperparams.yaml`` in ``output_folder``.

    Returns
    -------
    CLAPBrain
        The trained Brain (``brain.test_stats`` holds the test metrics).
    """
    brain = CLAPBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"],
        max_key=hparams.get("valid_metric", "t2a_R@1"),
        test_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if sb.utils.distributed.if_main_process():
        plot_curves(
            hparams["train_log"],
            os.path.join(hparams["output_folder"], "validation_curves.png"),
            title=os.path.basename(hparams_file),
        )
    # Every rank takes part (save hooks broadcast from the main process).
    export_pretrained(
        os.path.join(hparams["output_folder"], "hyperparams.yaml"),
        hparams["model"]["loadables"],
        hparams["export_folder"],
        zero_shot_template=hparams.get("zero_shot_template", "This is a sound of {}."),
    )
    return brain
