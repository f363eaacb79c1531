"""Text towers for CLAP: a small Transformer trained from scratch and HF models.

Both towers tokenize a batch of strings with the tokenizer they hold (see
:mod:`speechbrain_tclap.lobes.tokenizers`) and return a
:class:`~speechbrain_tclap.lobes.outputs.TextEncoderOutput` (pooled embedding,
token states, token mask): :class:`TransformerTextEncoder`, trained from
scratch, and :class:`HFTextEncoder`, a ``transformers`` model built offline
with the poolings of the published CLAP models.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from speechbrain.utils.logger import get_logger
from torch import nn

from speechbrain_tclap.lobes.pooling import masked_mean
from speechbrain_tclap.lobes.outputs import TextEncoderOutput
from speechbrain_tclap.lobes.tokenizers import HFTokenizer
from speechbrain_tclap.utils.tracing import is_tracing

logger = get_logger(__name__)

Tokenizer = Callable[[Sequence[str]], Tuple[torch.Tensor, torch.Tensor]]
# model types whose positions derive from the pad id
_ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert")


def _tokenize(encoder, texts: Sequence[str]):
    """``(texts as a list, ids, mask)``, after checking the batch and the tokenizer."""
    owner = type(encoder).__name__
    texts = _check_batch(texts, owner)
    if not getattr(encoder.tokenizer, "is_loaded", True):
        raise RuntimeError(
            f"{owner}: the tokenizer is not loaded yet. Train it "
            "(train_sentencepiece) and call tokenizer.load(path), or recover "
            "it through a Checkpointer/Pretrainer, before encoding text."
        )
    return (texts, *encoder.tokenizer(texts))


def _check_batch(texts: Sequence[str], owner: str) -> list:
    """``texts`` as a list; raises unless it is a non-empty list of non-blank strings.

    >>> _check_batch(["a dog barks"], "encoder")
    ['a dog barks']
    """
    if isinstance(texts, str):
        raise TypeError(
            f"{owner} expects a list of strings, got a single string; wrap it "
            f"in a list: [{texts!r}]"
        )
    texts = list(texts)
    if not texts:
        raise ValueError(f"{owner} got an empty batch of texts.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{owner}: text {i} is a {type(text).__name__}, expected a str."
            )
        if not text.strip():
            raise ValueError(
                f"{owner}: text {i} is empty or blank; every caption needs at "
                "least one word."
            )
    return texts


def _checked_ids(ids, mask, embedding: nn.Embedding, owner: str):
    """``(ids, mask)`` as long / bool on the embedding's device; raises when an id
    is outside the table or a row has no real token (not while traced).

    >>> ids, mask = torch.tensor([[5, 9]]), torch.tensor([[1, 0]])
    >>> _checked_ids(ids, mask, nn.Embedding(10, 2), "encoder")[1]
    tensor([[ True, False]])
    """
    device = embedding.weight.device
    ids = ids.to(device=device, dtype=torch.long)
    mask = mask.to(device=device, dtype=torch.bool)
    vocab_size = embedding.num_embeddings
    if is_tracing():
        return ids, mask
    if ids.numel() and (int(ids.max()) >= vocab_size or int(ids.min()) < 0):
        raise ValueError(
            f"{owner}: token id {int(ids.max())} is outside the embedding "
            f"table (vocab_size={vocab_size}); the tokenizer and the model "
            "vocabularies do not match."
        )
    if not bool(mask.any(dim=1).all()):
        raise ValueError(f"{owner}: a sequence has no real tokens.")
    return ids, mask


class TransformerTextEncoder(nn.Module):
    """A small pre-LN Transformer text encoder trained from scratch.

    Token plus learned positional embeddings, a pre-LN
    ``nn.TransformerEncoder`` that ignores padded keys, a final LayerNorm,
    then masked mean pooling or a learned CLS token; padding does not change
    a sentence's output. The tokenizer is not in ``state_dict()``: register it
    with the ``Checkpointer`` / ``Pretrainer`` under its own name.

    Arguments
    ---------
    tokenizer : callable
        ``tokenizer(texts) -> (ids (B, L), mask (B, L))``, e.g. a (possibly
        not yet loaded) ``SentencePieceTokenizer``.
    vocab_size : int
        Rows of the token embedding (at least the tokenizer's vocab size).
    d_model : int
        Width of the model; also ``output_dim``.
    nhead : int
        Attention heads.
    num_layers : int
        Transformer layers.
    dim_feedforward : int, optional
        Hidden width of the feed-forward blocks; ``4 * d_model`` if ``None``.
    max_length : int
        Longest token sequence accepted (size of the positional table).
    dropout : float
        Dropout on the embeddings and inside the Transformer.
    pos_init_std : float
        Initial std of the positional embedding. Keep it near 1: at the usual
        0.02 a small contrastive model stays blind to word order.
    pooling : str
        ``"mean"`` (masked mean of the token states) or ``"cls"`` (a learned
        token prepended to the sequence).

    Example
    -------
    >>> tmpdir = getfixture("tmpdir")
    >>> from speechbrain_tclap.lobes.tokenizers import (
    ...     SentencePieceTokenizer, train_sentencepiece)
    >>> texts = [f"a {a} then a {b}" for a in ("dog", "cat")
    ...          for b in ("car", "bell")]
    >>> sp_path = train_sentencepiece(texts, tmpdir / "sp", 40)
    >>> tok = SentencePieceTokenizer(sp_path)
    >>> enc = TransformerTextEncoder(tok, vocab_size=tok.vocab_size, d_model=16,
    ...     nhead=2, num_layers=1, max_length=32)
    >>> out = enc(["a dog then a car", "a cat"])
    >>> out.pooled.shape, out.tokens.shape[::2], enc.output_dim
    (torch.Size([2, 16]), torch.Size([2, 16]), 16)
    >>> out.token_mask.shape == out.tokens.shape[:2]
    True
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        vocab_size: int,
        d_model: int = 128,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: Optional[int] = None,
        max_length: int = 64,
        dropout: float = 0.1,
        pos_init_std: float = 1.0,
        pooling: str = "mean",
    ):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}.")
        if d_model % nhead != 0:
            raise ValueError(f"d_model={d_model} must be divisible by nhead={nhead}.")
        if vocab_size < 1 or max_length < 1:
            raise ValueError("vocab_size and max_length must be positive.")
        self.tokenizer = tokenizer
        self.vocab_size = int(vocab_size)
        self.max_length = int(max_length)
        self.pooling = pooling
        self.output_dim = int(d_model)
        dim_feedforward = dim_feedforward or 4 * d_model

        self.token_embedding = nn.Embedding(vocab_size, d_model)
        n_positions = max_length + (1 if pooling == "cls" else 0)
        self.pos_embedding = nn.Parameter(torch.empty(1, n_positions, d_model))
        nn.init.normal_(self.pos_embedding, std=pos_init_std)
        if pooling == "cls":
            self.cls_token = nn.Parameter(torch.empty(1, 1, d_model))
            nn.init.normal_(self.cls_token, std=1.0)
        self.embed_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=d_model,
            nhead=nhead,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=num_layers, enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, texts: Sequence[str]) -> TextEncoderOutput:
        """Encodes a batch of texts.

        Arguments
        ---------
        texts : Sequence[str]
            Non-empty captions.

        Returns
        -------
        TextEncoderOutput
            ``pooled (B, d_model)``, ``tokens (B, L, d_model)``,
            ``token_mask (B, L)``.
        """
        _, ids, mask = _tokenize(self, texts)
        return self.forward_ids(ids, mask)

    def forward_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> TextEncoderOutput:
        """Encodes already tokenized text.

        Arguments
        ---------
        ids : torch.Tensor
            ``LongTensor (B, L)`` token ids.
        mask : torch.Tensor
            ``BoolTensor (B, L)``, ``True`` on real tokens.

        Returns
        -------
        TextEncoderOutput
            ``pooled (B, d_model)``, ``tokens (B, L, d_model)``,
            ``token_mask (B, L)``.
        """
        length = ids.shape[1]
        if length > self.max_length:
            raise ValueError(
                f"{type(self).__name__}: got {length} tokens but max_length is "
                f"{self.max_length}; give the tokenizer a max_length <= "
                f"{self.max_length}."
            )
        ids, mask = _checked_ids(ids, mask, self.token_embedding, type(self).__name__)
        x = self.token_embedding(ids)
        key_mask = mask
        if self.pooling == "cls":
            cls = self.cls_token.expand(x.shape[0], -1, -1)
            x = torch.cat([cls, x], dim=1)
            key_mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        x = x + self.pos_embedding[:, : x.shape[1]]
        x = self.embed_dropout(x)
        x = self.encoder(x, src_key_padding_mask=~key_mask)
        x = self.norm(x)
        if self.pooling == "cls":
            pooled, tokens = x[:, 0], x[:, 1:]
        else:
            pooled, tokens = masked_mean(x, mask), x
        return TextEncoderOutput(pooled=pooled, tokens=tokens, token_mask=mask)


class HFTextEncoder(nn.Module):
    """A ``transformers`` text model built offline, with CLAP poolings.

    The model comes from ``source``, a local folder with weights, or from
    ``model_type`` + ``config`` (random init; real weights then arrive through
    the ``Pretrainer``). Nothing is downloaded.

    Frozen towers (no parameter requires a gradient and eval mode, e.g.
    ``freeze=True``) encode each caption once: token states and pooled vector
    are cached per text and later batches only run the model on new texts.
    Outputs equal an uncached run on real tokens (padded positions are zeros);
    the cache is dropped when the weights, device or dtype change, or the
    tower becomes trainable.

    Arguments
    ---------
    tokenizer : callable or str, optional
        ``tokenizer(texts) -> (ids, mask)``, or a local folder read as
        ``HFTokenizer(folder, max_length)``; ``None`` reads it from ``source``.
    model_type : str, optional
        A ``transformers`` model type (``"roberta"``, ``"bert"``, ``"gpt2"``,
        ...) for a randomly initialised model.
    config : dict, optional
        Config values for ``model_type`` (may hold ``model_type`` itself).
    source : str, optional
        Local folder holding a saved model (config and weights).
    pooling : str
        ``"pooler"`` (``pooler_output``: LAION, RoBERTa), ``"cls"`` (first
        token: MS-CLAP 2022, BERT), ``"mean"`` (masked mean) or ``"eot"`` (the
        last real token, right padding: MS-CLAP 2023's end-of-text token; MS-CLAP
        counts ids other than pad id 0, the same unless a text holds ``"!"``).
    freeze : bool
        ``requires_grad=False``, eval mode even after ``.train()``, ``no_grad``.
    max_length : int
        ``max_length`` of a tokenizer built from a folder.
    cache_size : int
        Texts kept in the frozen-tower cache (0 disables it); when full the
        cache starts over.

    Example
    -------
    >>> tmpdir = getfixture("tmpdir")
    >>> from speechbrain_tclap.lobes.tokenizers import (
    ...     SentencePieceTokenizer, train_sentencepiece)
    >>> texts = [f"a {a} then a {b}" for a in ("dog", "cat")
    ...          for b in ("car", "bell")]
    >>> sp_path = train_sentencepiece(texts, tmpdir / "sp", 40)
    >>> tok = SentencePieceTokenizer(sp_path)
    >>> config = dict(hidden_size=32, num_hidden_layers=2,
    ...     num_attention_heads=2, intermediate_size=64,
    ...     vocab_size=tok.vocab_size, max_position_embeddings=64)
    >>> enc = HFTextEncoder(tok, model_type="bert", config=config,
    ...     pooling="cls")
    >>> out = enc(["a dog then a car", "a cat"])
    >>> out.pooled.shape, out.tokens.shape[::2], enc.output_dim
    (torch.Size([2, 32]), torch.Size([2, 32]), 32)
    >>> frozen = HFTextEncoder(tok, model_type="bert", config=config,
    ...     pooling="mean", freeze=True)
    >>> first = frozen(["a dog then a car", "a cat"]).pooled
    >>> again = frozen(["a cat", "a bell"]).pooled  # "a cat" from the cache
    >>> len(frozen.cached_texts), torch.allclose(first[1], again[0], atol=1e-6)
    (3, True)
    """

    POOLINGS = ("pooler", "cls", "mean", "eot")

    def __init__(
        self,
        tokenizer: Union[Tokenizer, str, os.PathLike, None] = None,
        model_type: Optional[str] = None,
        config: Optional[Dict[str, Any]] = None,
        source: Optional[Union[str, os.PathLike]] = None,
        pooling: str = "pooler",
        freeze: bool = False,
        max_length: int = 77,
        cache_size: int = 100_000,
    ):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if pooling not in self.POOLINGS:
            raise ValueError(
                f"pooling must be one of {self.POOLINGS}, got {pooling!r}."
            )
        config = dict(config or {})
        model_type = model_type or config.pop("model_type", None)
        config.pop("model_type", None)
        if (source is None) == (model_type is None):
            raise ValueError(
                "HFTextEncoder needs exactly one of `source` (a local folder "
                "with weights) or `model_type` (+ `config`, random init)."
            )
        if source is not None:
            if config:
                raise ValueError("`config` is only used with `model_type`.")
            if not os.path.isdir(source):
                raise FileNotFoundError(
                    f"source={str(source)!r} is not a local folder; this "
                    "encoder never downloads. Build it from `model_type` + "
                    "`config` and load weights with a Pretrainer instead."
                )
            self.model = AutoModel.from_pretrained(str(source), local_files_only=True)
        else:
            hf_config = AutoConfig.for_model(model_type, **config)
            self.model = AutoModel.from_config(hf_config)

        if tokenizer is None:
            if source is None:
                raise ValueError("Give a `tokenizer` (or a `source` folder).")
            tokenizer = source
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = HFTokenizer(tokenizer, max_length=max_length)
        if not callable(tokenizer):
            raise TypeError(
                "tokenizer must be callable: tokenizer(texts) -> (ids, mask)."
            )
        self.tokenizer = tokenizer

        if pooling == "pooler" and getattr(self.model, "pooler", None) is None:
            raise ValueError(
                f"pooling='pooler' needs a model with a pooler layer; "
                f"{type(self.model).__name__} has none (use 'cls', 'mean' or "
                "'eot')."
            )
        self.pooling = pooling
        self.max_length = int(max_length)
        cfg = self.model.config
        self.output_dim = int(
            getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd")
        )
        self.max_positions = self._max_positions(cfg)
        tok_pad = getattr(tokenizer, "pad_id", None)
        model_pad = getattr(cfg, "pad_token_id", None)
        if (
            cfg.model_type in _ROBERTA_LIKE
            and tok_pad is not None
            and model_pad is not None
            and tok_pad != model_pad
        ):
            logger.warning(
                "%s: tokenizer pad id %s differs from the model's pad_token_id "
                "%s; RoBERTa derives positions from the pad id, so real tokens "
                "with id %s would get the padding position.",
                type(self).__name__,
                tok_pad,
                model_pad,
                model_pad,
            )

        self.freeze = bool(freeze)
        if self.freeze:
            for param in self.model.parameters():
                param.requires_grad_(False)
            self.model.eval()
        self.cache_size = int(cache_size)
        # text -> (token states (n, H), pooled (H,)); valid for _cache_token.
        self._cache: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}
        self._cache_token: Optional[tuple] = None

    @property
    def cached_texts(self) -> List[str]:
        """Texts whose embeddings the frozen-tower cache holds, in insertion order."""
        return list(self._cache)

    def _cache_state(self) -> Optional[tuple]:
        """Token of the weights the cache is valid for, or ``None`` when the
        tower is trainable or in training mode (nothing may be cached)."""
        if self.cache_size <= 0 or self.model.training:
            return None
        params = list(self.model.parameters())
        if any(p.requires_grad for p in params):
            return None
        # In-place updates (load_state_dict, optimiser steps) bump _version.
        return (params[0].device, params[0].dtype) + tuple(p._version for p in params)

    @staticmethod
    def _max_positions(cfg) -> Optional[int]:
        """Longest sequence ``cfg``'s position table holds (None: no table)."""
        limit = getattr(cfg, "max_position_embeddings", None)
        if limit is None:
            limit = getattr(cfg, "n_positions", None)
        if limit is None:
            return None
        if cfg.model_type in _ROBERTA_LIKE:  # positions start after the pad index
            limit -= (cfg.pad_token_id or 0) + 1
        return int(limit)

    def train(self, mode: bool = True) -> "HFTextEncoder":
        """Sets training mode; a frozen model stays in eval mode.

        Arguments
        ---------
        mode : bool
            ``True`` for training mode.

        Returns
        -------
        HFTextEncoder
            ``self``.
        """
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def forward(self, texts: Sequence[str]) -> TextEncoderOutput:
        """Encodes a batch of texts.

        Arguments
        ---------
        texts : Sequence[str]
            Non-empty captions.

        Returns
        -------
        TextEncoderOutput
            ``pooled (B, H)``, ``tokens (B, L, H)``, ``token_mask (B, L)``.
        """
        texts, ids, mask = _tokenize(self, texts)
        state = self._cache_state()
        if state is not None:
            return self._encode_cached(texts, ids, mask, state)
        return self.forward_ids(ids, mask)

    def forward_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> TextEncoderOutput:
        """Encodes already tokenized, right-padded text.

        Arguments
        ---------
        ids : torch.Tensor
            ``LongTensor (B, L)`` token ids.
        mask : torch.Tensor
            ``BoolTensor (B, L)``, ``True`` on real tokens (right padding).

        Returns
        -------
        TextEncoderOutput
            ``pooled (B, H)``, ``tokens (B, L, H)``, ``token_mask (B, L)``.
        """
        owner = type(self).__name__
        if self.max_positions is not None and ids.shape[1] > self.max_positions:
            raise ValueError(
                f"{owner}: got {ids.shape[1]} tokens but the model holds at "
                f"most {self.max_positions} positions; lower the tokenizer's "
                "max_length."
            )
        ids, mask = _checked_ids(ids, mask, self.model.get_input_embeddings(), owner)
        lengths = mask.sum(dim=1)
        if self.pooling == "eot" and not is_tracing():
            expected = torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]
            if not torch.equal(expected, mask):
                raise ValueError(
                    f"{owner}: 'eot' pooling needs right padding (the mask "
                    "must be a prefix of ones in every row)."
                )
        if self.freeze:
            with torch.no_grad():
                return self._encode(ids, mask, lengths)
        return self._encode(ids, mask, lengths)

    def _encode_cached(
        self, texts: List[str], ids: torch.Tensor, mask: torch.Tensor, state: tuple
    ) -> TextEncoderOutput:
        """Encodes ``texts`` with a frozen tower, running it on new texts only."""
        if state != self._cache_token or len(self._cache) >= self.cache_size:
            self._cache, self._cache_token = {}, state
        new = [i for i, text in enumerate(texts) if text not in self._cache]
        if new:
            rows = torch.tensor(new)
            width = int(mask[rows].sum(dim=1).max())
            with torch.no_grad():
                out = self.forward_ids(ids[rows, :width], mask[rows, :width])
            for k, i in enumerate(new):
                length = int(mask[i].sum())
                self._cache[texts[i]] = (
                    out.tokens[k, :length].detach(),
                    out.pooled[k].detach(),
                )
        entries = [self._cache[text] for text in texts]
        tokens = entries[0][0].new_zeros(len(texts), ids.shape[1], entries[0][0].shape[-1])
        for i, (states, _) in enumerate(entries):
            tokens[i, : states.shape[0]] = states
        pooled = torch.stack([p for _, p in entries])
        return TextEncoderOutput(
            pooled=pooled, tokens=tokens, token_mask=mask.to(tokens.device, torch.bool)
        )

    def _encode(
        self, ids: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor
    ) -> TextEncoderOutput:
        """Runs the model and pools (see :meth:`forward_ids`)."""
        out = self.model(input_ids=ids, attention_mask=mask.long())
        hidden = out.last_hidden_state
        if self.pooling == "pooler":
            pooled = out.pooler_output
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "mean":
            pooled = masked_mean(hidden, mask)
        else:  # eot: the last real token, as MS-CLAP 2023 takes it
            rows = torch.arange(hidden.shape[0], device=hidden.device)
            pooled = hidden[rows, lengths - 1]
        return TextEncoderOutput(pooled=pooled, tokens=hidden, token_mask=mask)
