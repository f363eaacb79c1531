"""Tokenizers for the text towers.

Every tokenizer is a callable ``tokenizer(texts) -> (ids, mask)``: ``ids`` a
``LongTensor (B, L)`` right-padded with its pad id, ``mask`` a ``BoolTensor
(B, L)``, ``True`` on real tokens; any text tower takes any of them.
:func:`train_sentencepiece` trains a small SentencePiece model on captions,
:class:`SentencePieceTokenizer` wraps one (lazily loaded, carried through
checkpoints), :class:`HFTokenizer` wraps a ``transformers`` tokenizer read from
a local folder (never the network).

Authors
 * speechbrain-tclap developers 2026
"""

import hashlib
import json
import os
import pathlib
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    mark_as_transfer,
    register_checkpoint_hooks,
)
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.captions import unicode_problem

logger = get_logger(__name__)

PathLike = Union[str, os.PathLike]

#: Special ids fixed by :func:`train_sentencepiece`.
SP_PAD_ID, SP_UNK_ID, SP_BOS_ID, SP_EOS_ID = 0, 1, 2, 3


def _check_texts(texts: Sequence[str]) -> List[str]:
    """``texts`` as a list; raises unless it is a non-empty list of clean strings."""
    if isinstance(texts, str):
        raise TypeError(
            "Expected a list of strings, got a single string; wrap it in a "
            f"list: [{texts!r}]"
        )
    texts = list(texts)
    if len(texts) == 0:
        raise ValueError("Expected at least one text, got an empty batch.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"Text {i} is a {type(text).__name__}, expected a str.")
        problem = unicode_problem(text)
        if problem:
            raise ValueError(f"Text {i} {text!r}: {problem}")
    return texts


def _pad_batch(
    seqs: Sequence[Sequence[int]], pad_id: int, length: Optional[int] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Right-pads id lists to ``length`` (at least the longest): ``(ids, mask)``.

    >>> ids, mask = _pad_batch([[5, 6, 7], [8]], pad_id=0)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [8, 0, 0]], [[True, True, True], [True, False, False]])
    """
    longest = max(len(s) for s in seqs)
    length = longest if length is None else max(length, longest)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.bool)
    for i, seq in enumerate(seqs):
        ids[i, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[i, : len(seq)] = True
    return ids, mask


def _as_id_lists(ids) -> Tuple[List[List[int]], bool]:
    """``(L,)`` / ``(B, L)`` ids (tensor or lists) as ``(id lists, unbatched?)``.

    >>> _as_id_lists(torch.tensor([4, 5]))
    ([[4, 5]], True)
    """
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()
    ids = list(ids)
    if len(ids) == 0 or isinstance(ids[0], int):
        return [[int(i) for i in ids]], True
    return [[int(i) for i in seq] for seq in ids], False


def _check_padding(padding: str) -> None:
    """Raises unless ``padding`` is ``"longest"`` or ``"max_length"``."""
    if padding not in ("longest", "max_length"):
        raise ValueError(f"padding must be 'longest' or 'max_length', got {padding!r}.")


class _PaddedTokenizer:
    """Batching shared by the tokenizers: ``encode`` then right-pad."""

    def __call__(self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Tokenizes a batch of texts.

        Arguments
        ---------
        texts : Sequence[str]
            The texts.

        Returns
        -------
        ids : torch.Tensor
            ``LongTensor (B, L)``, right-padded with ``pad_id``; ``L`` is
            ``max_length`` with ``padding="max_length"``.
        mask : torch.Tensor
            ``BoolTensor (B, L)``, ``True`` on real tokens.
        """
        length = self.max_length if self.padding == "max_length" else None
        return _pad_batch(self.encode(texts), self.pad_id, length)


def train_sentencepiece(
    texts: Iterable[str],
    model_prefix: PathLike,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    **kwargs,
) -> str:
    """Trains a SentencePiece model on a corpus of captions.

    Deterministic (single-threaded, unshuffled); a small corpus may end below
    ``vocab_size``. Special ids are fixed: pad 0, unk 1, bos 2, eos 3 (what
    :class:`SentencePieceTokenizer` expects).

    Arguments
    ---------
    texts : Iterable[str]
        Training sentences (captions). Empty strings are skipped.
    model_prefix : str or os.PathLike
        Output prefix of ``<prefix>.model`` / ``.vocab`` (folder created).
    vocab_size : int
        Target vocabulary size (an upper bound for small corpora).
    model_type : str
        ``"unigram"``, ``"bpe"``, ``"char"`` or ``"word"``.
    character_coverage : float
        Fraction of characters covered by the model.
    **kwargs
        Extra ``sentencepiece`` trainer options (they override the defaults).

    Returns
    -------
    str
        Path of the trained ``.model`` file.

    Example
    -------
    >>> tmpdir = getfixture("tmpdir")
    >>> texts = [f"a {a} then a {b}" for a in ("dog", "cat")
    ...          for b in ("car", "bell")]
    >>> path = train_sentencepiece(texts, tmpdir / "sp", vocab_size=40)
    >>> path.endswith("sp.model")
    True
    """
    import sentencepiece as spm

    if model_type not in ("unigram", "bpe", "char", "word"):
        raise ValueError(
            f"Unknown model_type {model_type!r}; expected unigram, bpe, "
            "char or word."
        )
    sentences = [t for t in texts if isinstance(t, str) and t.strip()]
    if not sentences:
        raise ValueError("train_sentencepiece needs at least one non-empty text.")
    model_prefix = str(model_prefix)
    folder = os.path.dirname(model_prefix)
    if folder:
        os.makedirs(folder, exist_ok=True)
    options = dict(
        model_prefix=model_prefix,
        vocab_size=int(vocab_size),
        model_type=model_type,
        character_coverage=character_coverage,
        hard_vocab_limit=False,
        pad_id=SP_PAD_ID,
        unk_id=SP_UNK_ID,
        bos_id=SP_BOS_ID,
        eos_id=SP_EOS_ID,
        num_threads=1,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    options.update(kwargs)
    with open(os.devnull, "w") as devnull:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), logstream=devnull, **options
        )
    path = model_prefix + ".model"
    logger.info("Trained a SentencePiece model (%s) at %s", model_type, path)
    return path


@register_checkpoint_hooks
class SentencePieceTokenizer(_PaddedTokenizer):
    """A SentencePiece tokenizer that travels with SpeechBrain checkpoints.

    Loaded lazily (it can be built in YAML before the model file exists): by
    :meth:`load`, on first use from ``model_path``, or as a ``Checkpointer``
    recoverable / ``Pretrainer`` loadable, whose hooks save and read the model
    bytes. Each text becomes ``<s> pieces </s>``, truncated to ``max_length``;
    batches are right-padded with id 0.

    Arguments
    ---------
    model_path : str or os.PathLike, optional
        Path of a ``.model`` file, read on first use when it exists.
    max_length : int
        Maximum sequence length, bos and eos included (at least 3).
    padding : str
        ``"longest"`` (pad to the longest text in the batch) or
        ``"max_length"`` (always pad to ``max_length``).

    Example
    -------
    >>> tmpdir = getfixture("tmpdir")
    >>> texts = [f"a {a} then a {b}" for a in ("dog", "cat")
    ...          for b in ("car", "bell")]
    >>> path = train_sentencepiece(texts, tmpdir / "sp", vocab_size=40)
    >>> tok = SentencePieceTokenizer(max_length=24, padding="max_length")
    >>> tok.is_loaded
    False
    >>> tok.load(path)
    >>> ids, mask = tok(["a dog then a bell", "a cat"])
    >>> ids.shape, mask.dtype
    (torch.Size([2, 24]), torch.bool)
    >>> ids[:, 0].tolist(), ids[1, mask[1].sum() - 1].item(), ids[1, -1].item()
    ([2, 2], 3, 0)
    >>> tok.decode(ids)
    ['a dog then a bell', 'a cat']
    """

    def __init__(
        self,
        model_path: Optional[PathLike] = None,
        max_length: int = 64,
        padding: str = "longest",
    ):
        if max_length < 3:
            raise ValueError(
                f"max_length must be at least 3 (bos, one piece, eos), got "
                f"{max_length}."
            )
        _check_padding(padding)
        self.model_path = None if model_path is None else str(model_path)
        self.max_length = int(max_length)
        self.padding = padding
        self.pad_id = SP_PAD_ID
        self.unk_id = SP_UNK_ID
        self.bos_id = SP_BOS_ID
        self.eos_id = SP_EOS_ID
        self._proto: Optional[bytes] = None
        self._sp = None

    @property
    def is_loaded(self) -> bool:
        """Whether a model is loaded (loading it from ``model_path`` if it exists)."""
        if self._sp is None and self.model_path is not None:
            if os.path.isfile(self.model_path):
                self.load(self.model_path)
        return self._sp is not None

    def load(self, path: PathLike) -> None:
        """Loads (or replaces) the SentencePiece model from a file.

        Arguments
        ---------
        path : str or os.PathLike
            A ``.model`` file or a checkpoint written by the saver hook.
        """
        with open(path, "rb") as f:
            proto = f.read()
        self._load_proto(proto, source=str(path))
        self.model_path = str(path)

    def _load_proto(self, proto: bytes, source: str = "<bytes>") -> None:
        """Builds the processor from serialized model bytes."""
        import sentencepiece as spm

        if not proto:
            raise RuntimeError(f"SentencePiece model {source} is empty.")
        sp = spm.SentencePieceProcessor()
        try:
            sp.LoadFromSerializedProto(proto)
        except Exception as err:  # sentencepiece raises OSError/RuntimeError
            raise RuntimeError(
                f"Could not read a SentencePiece model from {source}: {err}"
            ) from err
        ids = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
        if ids != (self.pad_id, self.unk_id, self.bos_id, self.eos_id):
            raise RuntimeError(
                f"SentencePiece model {source} has special ids pad={ids[0]} "
                f"unk={ids[1]} bos={ids[2]} eos={ids[3]}; expected pad=0 unk=1 "
                "bos=2 eos=3 (train it with train_sentencepiece)."
            )
        self._sp = sp
        self._proto = proto

    def _require(self):
        """Returns the processor, loading it lazily, or raises."""
        if not self.is_loaded:
            where = (
                f"model_path={self.model_path!r} does not exist yet"
                if self.model_path
                else "no model_path was given"
            )
            raise RuntimeError(
                "SentencePieceTokenizer is not loaded (" + where + "). Train "
                "one with train_sentencepiece() and call load(path), or "
                "recover it through a Checkpointer/Pretrainer."
            )
        return self._sp

    @property
    def vocab_size(self) -> int:
        """Number of pieces in the loaded model, special pieces included."""
        return self._require().get_piece_size()

    def encode(self, texts: Sequence[str]) -> List[List[int]]:
        """Encodes texts to id lists with bos/eos, truncated to ``max_length``.

        Arguments
        ---------
        texts : Sequence[str]
            The texts.

        Returns
        -------
        list of list of int
            One unpadded id list per text.
        """
        sp = self._require()
        texts = _check_texts(texts)
        pieces = sp.encode(texts, out_type=int)
        budget = self.max_length - 2
        return [[self.bos_id] + p[:budget] + [self.eos_id] for p in pieces]

    def decode(self, ids) -> Union[str, List[str]]:
        """Turns ids back into text, dropping pad, bos and eos.

        Arguments
        ---------
        ids : torch.Tensor or list
            ``(L,)`` or ``(B, L)`` ids (a list of ints or of lists works too).

        Returns
        -------
        str or list of str
            One string for an unbatched input, else one per row.
        """
        sp = self._require()
        seqs, single = _as_id_lists(ids)
        drop = {self.pad_id, self.bos_id, self.eos_id}
        texts = [sp.decode([i for i in s if i not in drop]) for s in seqs]
        return texts[0] if single else texts

    @mark_as_saver
    def _save(self, path: PathLike) -> None:
        """Checkpoint saver: writes the model bytes to ``path``."""
        self._require()
        with open(path, "wb") as f:
            f.write(self._proto)

    @mark_as_loader
    def _recover(self, path: PathLike, end_of_epoch: bool = False) -> None:
        """Checkpoint loader: reads the model bytes back from ``path``."""
        del end_of_epoch  # the model does not depend on the epoch
        self.load(path)

    @mark_as_transfer
    def _transfer(self, path: PathLike) -> None:
        """Pretrainer transfer hook: reads the model bytes from ``path``."""
        self.load(path)

    def __getstate__(self):
        """Pickles the model bytes, not the C++ processor."""
        state = self.__dict__.copy()
        state["_sp"] = None
        return state

    def __setstate__(self, state):
        """Rebuilds the processor from the pickled bytes."""
        self.__dict__.update(state)
        if self._proto is not None:
            self._load_proto(self._proto, source="pickled state")

    def __repr__(self) -> str:
        status = f"vocab_size={self.vocab_size}" if self._sp else "not loaded"
        return (
            f"{type(self).__name__}({status}, max_length={self.max_length}, "
            f"model_path={self.model_path!r})"
        )


@register_checkpoint_hooks
class HFTokenizer(_PaddedTokenizer):
    """Wraps a ``transformers`` tokenizer read from a local folder.

    Always right-pads (end-of-text pooling depends on it). As a
    ``Checkpointer`` recoverable or ``Pretrainer`` loadable it saves its
    definition (JSON) and, on loading, raises naming the file when the
    tokenizer in use differs (a checkpoint's embedding ids only mean something
    with its own tokenizer). A text too long is cut before ``suffix`` and the
    trailing special tokens, which are kept. MS-CLAP 2023 (GPT-2) is
    ``HFTokenizer(gpt2_folder, max_length=77, suffix=" <|endoftext|>",
    pad_token="!")`` (``"!"`` is GPT-2 id 0: the vocabulary does not grow).

    Arguments
    ---------
    source : str, os.PathLike or tokenizer
        A local folder of tokenizer files or a ``transformers`` tokenizer.
    max_length : int
        Maximum sequence length, special tokens included.
    padding : str
        ``"max_length"`` (as LAION and MS-CLAP) or ``"longest"`` (the batch's
        longest text).
    suffix : str
        Text appended to every input (``" <|endoftext|>"`` for MS-CLAP).
    pad_token : str, optional
        Pad token to register when the tokenizer has none (GPT-2); otherwise
        eos (or id 0) pads, masked anyway.

    Example
    -------
    >>> from tokenizers import Tokenizer, models, pre_tokenizers, processors
    >>> from transformers import PreTrainedTokenizerFast
    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3,
    ...          "a": 4, "dog": 5, "barks": 6}
    >>> tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> tk.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tk.post_processor = processors.TemplateProcessing(
    ...     single="[CLS] $A [SEP]",
    ...     special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    >>> hf = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]",
    ...     unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]")
    >>> tok = HFTokenizer(hf, max_length=8)
    >>> ids, mask = tok(["a dog barks", "a cat"])
    >>> ids.tolist()
    [[2, 4, 5, 6, 3, 0, 0, 0], [2, 4, 1, 3, 0, 0, 0, 0]]
    >>> mask.sum(1).tolist()
    [5, 4]
    """

    def __init__(
        self,
        source,
        max_length: int = 77,
        padding: str = "max_length",
        suffix: str = "",
        pad_token: Optional[str] = None,
    ):
        _check_padding(padding)
        if isinstance(source, (str, os.PathLike)):
            from transformers import AutoTokenizer

            folder = pathlib.Path(source)
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"HFTokenizer needs a local folder with tokenizer files; "
                    f"{str(source)!r} is not a directory (no downloads here)."
                )
            self.tokenizer = AutoTokenizer.from_pretrained(
                str(folder), local_files_only=True
            )
            self.source = str(folder)
        elif callable(source) and hasattr(source, "convert_ids_to_tokens"):
            self.tokenizer = source
            self.source = None
        else:
            raise TypeError(
                "source must be a local folder or a transformers tokenizer, "
                f"got {type(source).__name__}."
            )
        if pad_token is not None and self.tokenizer.pad_token is None:
            self.tokenizer.add_special_tokens({"pad_token": pad_token})
        if self.tokenizer.pad_token_id is not None:
            self.pad_id = int(self.tokenizer.pad_token_id)
        elif self.tokenizer.eos_token_id is not None:
            self.pad_id = int(self.tokenizer.eos_token_id)
        else:
            self.pad_id = 0
        self.max_length = int(max_length)
        self.padding = padding
        self.suffix = suffix
        suffix_ids = (
            self.tokenizer(suffix, add_special_tokens=False)["input_ids"]
            if suffix
            else []
        )
        n_special = self.tokenizer.num_special_tokens_to_add(pair=False)
        # Tail kept on truncation: the suffix and any trailing special tokens.
        self._keep_tail = len(suffix_ids) + n_special if suffix else 0
        if self.max_length <= self._keep_tail:
            raise ValueError(
                f"max_length={self.max_length} leaves no room for text after "
                f"the suffix and special tokens ({self._keep_tail} tokens)."
            )

    @property
    def vocab_size(self) -> int:
        """Number of ids the tokenizer can emit (added tokens included)."""
        return len(self.tokenizer)

    def encode(self, texts: Sequence[str]) -> List[List[int]]:
        """Encodes texts (suffix appended) to truncated, unpadded id lists.

        Arguments
        ---------
        texts : Sequence[str]
            The texts.

        Returns
        -------
        list of list of int
            One id list per text, at most ``max_length`` long.
        """
        texts = _check_texts(texts)
        if not self.suffix:
            enc = self.tokenizer(
                texts,
                add_special_tokens=True,
                truncation=True,
                max_length=self.max_length,
                padding=False,
            )
            return [list(s) for s in enc["input_ids"]]
        enc = self.tokenizer(
            [t + self.suffix for t in texts],
            add_special_tokens=True,
            truncation=False,
            padding=False,
        )
        head = self.max_length - self._keep_tail
        seqs = []
        for s in enc["input_ids"]:
            s = list(s)
            if len(s) > self.max_length:
                s = s[:head] + s[len(s) - self._keep_tail :]
            seqs.append(s)
        return seqs

    def decode(self, ids) -> Union[str, List[str]]:
        """Turns ids back into text, dropping special tokens.

        Arguments
        ---------
        ids : torch.Tensor or list
            ``(L,)`` or ``(B, L)`` ids.

        Returns
        -------
        str or list of str
            One string for an unbatched input, else one per row.
        """
        seqs, single = _as_id_lists(ids)
        texts = self.tokenizer.batch_decode(seqs, skip_special_tokens=True)
        texts = [t.strip() for t in texts]
        return texts[0] if single else texts

    def definition(self) -> Dict[str, Any]:
        """What identifies this tokenizer: its full definition and settings.

        Returns
        -------
        dict
            ``vocabulary`` (token -> id pairs, sorted, as JSON),
            ``fingerprint`` (its SHA-256), ``max_length``, ``padding``, ``suffix``, ``pad_id``.
        """
        # The vocabulary (added tokens included), not the backend's JSON:
        # that also records truncation and padding state, which changes on use.
        vocabulary = json.dumps(sorted(self.tokenizer.get_vocab().items()))
        return {
            "vocabulary": vocabulary,
            "fingerprint": hashlib.sha256(vocabulary.encode("utf-8")).hexdigest(),
            "max_length": self.max_length,
            "padding": self.padding,
            "suffix": self.suffix,
            "pad_id": self.pad_id,
        }

    @mark_as_saver
    def _save(self, path: PathLike) -> None:
        """Checkpoint saver: the tokenizer's definition as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.definition(), f)

    @mark_as_loader
    def _recover(self, path: PathLike, end_of_epoch: bool = False) -> None:
        """Checkpoint loader: checks that ``path`` was written by this tokenizer."""
        del end_of_epoch  # the tokenizer does not depend on the epoch
        self._check_saved(path)

    @mark_as_transfer
    def _transfer(self, path: PathLike) -> None:
        """Pretrainer transfer hook: as :meth:`_recover`."""
        self._check_saved(path)

    def _check_saved(self, path: PathLike) -> None:
        """Raise when the tokenizer saved in ``path`` is not this one."""
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            fingerprint = saved["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path}: not a tokenizer file written by HFTokenizer ({err})"
            ) from err
        if fingerprint != self.definition()["fingerprint"]:
            raise ValueError(
                f"{path} was written with another tokenizer than {self.source!r} "
                "(its vocabulary differs): token ids would not match the "
                "checkpoint's embedding table. Point the tokenizer at the folder "
                "the model was trained with."
            )
        for key in ("max_length", "padding", "suffix"):
            if key in saved and saved[key] != getattr(self, key):
                logger.warning(
                    "%s: saved tokenizer had %s=%r, this one has %r",
                    path, key, saved[key], getattr(self, key),
                )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({type(self.tokenizer).__name__}, "
            f"vocab_size={self.vocab_size}, max_length={self.max_length}, "
            f"padding={self.padding!r}, suffix={self.suffix!r})"
        )


@register_checkpoint_hooks
class MissingTokenizer:
    """Stands in for a tokenizer whose local files were not given.

    Weights load and audio encodes without tokenizer files; encoding text
    raises an error that says which files to provide.

    Arguments
    ---------
    message : str
        The error raised on use: what to set, and where the files come from.
    pad_id : int, optional
        The real tokenizer's pad id (text towers check it against the model).

    Example
    -------
    >>> tok = MissingTokenizer("set tokenizer_folder to the gpt2 files")
    >>> try:
    ...     tok(["a dog barks"])
    ... except RuntimeError as err:
    ...     print(err)
    set tokenizer_folder to the gpt2 files
    """

    def __init__(self, message: str, pad_id: Optional[int] = None):
        self.message = message
        if pad_id is not None:
            self.pad_id = int(pad_id)

    def __call__(self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raises ``RuntimeError(message)``: there is no tokenizer."""
        raise RuntimeError(self.message)

    @mark_as_saver
    def _save(self, path: PathLike) -> None:
        """Checkpoint saver: a note that no tokenizer was given."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"missing": self.message}, f)

    @mark_as_loader
    def _recover(self, path: PathLike, end_of_epoch: bool = False) -> None:
        """Checkpoint loader: nothing to restore."""

    @mark_as_transfer
    def _transfer(self, path: PathLike) -> None:
        """Pretrainer transfer hook: nothing to restore."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message[:40]!r}...)"



def tokenizer_from_folder(folder, missing: str, pad_id: Optional[int] = None, **kw):
    """An :class:`HFTokenizer` read from ``folder``, else a :class:`MissingTokenizer`.

    Arguments
    ---------
    folder : str or os.PathLike, optional
        Local folder with the tokenizer files.
    missing : str
        The error the :class:`MissingTokenizer` raises: which files, from where.
    pad_id : int, optional
        The real tokenizer's pad id, given to the :class:`MissingTokenizer`.
    **kw
        :class:`HFTokenizer` arguments (``max_length``, ``padding``, ...).

    Returns
    -------
    HFTokenizer or MissingTokenizer
        The tokenizer.

    Example
    -------
    >>> tokenizer_from_folder(None, "set tokenizer_folder", pad_id=1).pad_id
    1
    """
    if folder is None:
        return MissingTokenizer(missing, pad_id=pad_id)
    return HFTokenizer(folder, **kw)
