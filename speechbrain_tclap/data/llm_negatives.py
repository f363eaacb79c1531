"""Order-swapped negative captions written by a local causal language model.

T-CLAP's second data pipeline has a language model rewrite a caption with
its events in another order, a hard text negative of the clip. Any local
Hugging Face causal LM (or object with a compatible ``generate``) runs over a
manifest's captions: captions without a sequential connective are skipped;
the others go into :data:`PROMPT_TEMPLATE` (instruction plus
:data:`FEW_SHOT_EXAMPLES`), are decoded greedily in left-padded batches up to
the first newline and cleaned (:func:`postprocess_generation`). An output
that fails :func:`~speechbrain_tclap.data.caption_negatives.validate_negative`
falls back to the rule rewriter (source ``"rule"``), else is recorded invalid.
Records are appended to a
:class:`~speechbrain_tclap.data.caption_negatives.NegativeCache` after every
batch; a rerun skips cached ids. Front end: ``scripts/make_llm_negatives.py``.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import re
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.caption_negatives import (
    NegativeCache,
    has_temporal_connective,
    make_record,
    swap_temporal_order,
    validate_negative,
)

logger = get_logger(__name__)

#: Instruction placed before the few-shot examples.
PROMPT_INSTRUCTION = (
    "Each audio caption below lists sound events in the order they are heard. "
    "Write the caption again with the sound events in the reverse order of "
    "time. Keep the words that describe each sound exactly as they are, keep "
    "sounds that happen at the same time together, and do not add, drop or "
    "rename any sound. Answer with the rewritten caption on a single line."
)

#: Few-shot pairs (caption, order-reversed caption); each passes
#: ``validate_negative``.
FEW_SHOT_EXAMPLES: Tuple[Tuple[str, str], ...] = (
    (
        "a dog barks followed by a car passing by",
        "a car passing by followed by a dog barks",
    ),
    (
        "A man speaks, then a door slams shut.",
        "A door slams shut, then a man speaks.",
    ),
    ("a bell rings after a woman laughs", "a woman laughs after a bell rings"),
    (
        "water runs as a man talks and then a toilet flushes",
        "a toilet flushes and then water runs as a man talks",
    ),
    (
        "a door creaks followed by footsteps then a man coughs",
        "a man coughs followed by footsteps then a door creaks",
    ),
)

#: Prompt with ``{instruction}``, ``{examples}`` and ``{caption}`` fields.
PROMPT_TEMPLATE = "{instruction}\n\n{examples}Caption: {caption}\nReversed:"

_LABEL = re.compile(r"^\s*(?:reversed|swapped|rewritten|caption)\s*:\s*", re.IGNORECASE)
# The counts generate_negatives returns, in order.
_STATS = ("captions", "cached", "no_connective", "simultaneous_only", "duplicate")
_STATS += ("deferred", "llm", "rule", "invalid")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"


def build_prompt(
    caption: str,
    template: str = PROMPT_TEMPLATE,
    instruction: str = PROMPT_INSTRUCTION,
    examples: Sequence[Tuple[str, str]] = FEW_SHOT_EXAMPLES,
) -> str:
    """The prompt asking the model to reverse the event order of a caption.

    Arguments
    ---------
    caption : str
        The caption to rewrite (whitespace runs collapsed: one line).
    template : str
        Format string with ``{instruction}``, ``{examples}``, ``{caption}``.
    instruction : str
        The instruction text.
    examples : sequence of tuple
        Few-shot ``(caption, rewrite)`` pairs.

    Returns
    -------
    str
        The prompt; the model continues after ``"Reversed:"``.

    Example
    -------
    >>> prompt = build_prompt("a cat meows then a dog barks", examples=[("x then y", "y then x")])
    >>> print(prompt.split("\\n\\n", 1)[1])
    Caption: x then y
    Reversed: y then x
    <BLANKLINE>
    Caption: a cat meows then a dog barks
    Reversed:
    """
    shots = "".join(f"Caption: {c}\nReversed: {r}\n\n" for c, r in examples)
    return template.format(
        instruction=instruction,
        examples=shots,
        caption=" ".join(caption.split()),
    )


def postprocess_generation(text: str) -> str:
    """The first non-empty line of a continuation, without a repeated
    ``Reversed:`` (``Swapped:``, ``Caption:``) label, quotes and whitespace.

    Arguments
    ---------
    text : str
        Decoded continuation of the prompt.

    Returns
    -------
    str
        The candidate negative (possibly empty).

    Example
    -------
    >>> postprocess_generation(' "a car passes, then a dog barks"\\nCaption: junk')
    'a car passes, then a dog barks'
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = _LABEL.sub("", lines[0]).strip()
    while len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    return line.strip(_QUOTES + " \t").strip()


class _NewlineStop:
    """Stopping criterion: a row is done once its continuation has a newline."""

    def __init__(self, tokenizer, prompt_length: int):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores=None, **kwargs) -> torch.Tensor:
        done = [
            "\n"
            in self.tokenizer.decode(
                row[self.prompt_length :], skip_special_tokens=True
            )
            for row in input_ids
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class LLMNegativeGenerator:
    """Greedy, batched rewriting of captions with a causal language model.

    Arguments
    ---------
    model : str, os.PathLike or object
        A local model folder (``AutoModelForCausalLM``, nothing downloaded) or
        an object whose Hugging Face style ``generate(input_ids=...,
        attention_mask=..., **kwargs)`` returns prompt plus continuation ids.
    tokenizer : object, optional
        A Hugging Face tokenizer; loaded from ``model`` when that is a path.
    batch_size : int
        Captions per ``generate`` call.
    max_new_tokens : int
        Longest continuation.
    device : str, optional
        Device of a model loaded from a path (default ``"cpu"``); inputs go to
        ``model.device`` if any.
    dtype : str or torch.dtype, optional
        Weights dtype of a model loaded from a path (``"bfloat16"``, ...).
    examples : sequence of tuple
        Few-shot pairs for :func:`build_prompt`.

    Example
    -------
    >>> from transformers import PreTrainedTokenizerFast
    >>> from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    >>> backend = Tokenizer(models.BPE())  # byte-level, no merges: offline
    >>> backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    >>> backend.decoder = decoders.ByteLevel()
    >>> backend.train_from_iterator([], trainers.BpeTrainer(special_tokens=["<eos>"],
    ...     initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>")
    >>> class Echo:  # a "model" that always answers the same line
    ...     def generate(self, input_ids, attention_mask=None, **kwargs):
    ...         answer = tok([" a door slams, then a man speaks\\n"] * len(input_ids),
    ...                      return_tensors="pt")["input_ids"]
    ...         return torch.cat([input_ids, answer], dim=1)
    >>> gen = LLMNegativeGenerator(Echo(), tok)
    >>> gen.generate(["A man speaks, then a door slams"])
    ['a door slams, then a man speaks']
    """

    def __init__(
        self,
        model: Union[str, os.PathLike, Any],
        tokenizer: Any = None,
        batch_size: int = 8,
        max_new_tokens: int = 64,
        device: Optional[str] = None,
        dtype: Optional[Union[str, torch.dtype]] = None,
        examples: Sequence[Tuple[str, str]] = FEW_SHOT_EXAMPLES,
    ):
        if isinstance(model, (str, os.PathLike)):
            path = os.fspath(model)
            if not os.path.isdir(path):
                raise FileNotFoundError(
                    f"language model folder not found: {path} (only local "
                    "models are used; nothing is downloaded)"
                )
            from transformers import AutoModelForCausalLM, AutoTokenizer

            kwargs: Dict[str, Any] = {"local_files_only": True}
            if dtype is not None:
                kwargs["dtype"] = (
                    getattr(torch, dtype)
                    if isinstance(dtype, str) and dtype != "auto"
                    else dtype
                )
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
            model.to(device or "cpu")
            if tokenizer is None:
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if tokenizer is None:
            raise ValueError("a tokenizer is needed when 'model' is an object")
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError("batch_size and max_new_tokens must be positive")
        if getattr(tokenizer, "pad_token_id", None) is None:
            if getattr(tokenizer, "eos_token", None) is None:
                raise ValueError("the tokenizer has neither a pad nor an eos token")
            tokenizer.pad_token = tokenizer.eos_token
        if hasattr(model, "eval"):
            model.eval()
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.examples = tuple(examples)

    def prompt(self, caption: str) -> str:
        """The prompt for one caption (see :func:`build_prompt`).

        Arguments
        ---------
        caption : str
            The caption.

        Returns
        -------
        str
            The prompt.
        """
        return build_prompt(caption, examples=self.examples)

    @torch.inference_mode()
    def generate(self, captions: Sequence[str]) -> List[str]:
        """Post-processed rewrites of ``captions``, in order.

        Arguments
        ---------
        captions : sequence of str
            Captions to rewrite (split into ``batch_size`` chunks).

        Returns
        -------
        list of str
            One candidate per caption (not yet validated).
        """
        out: List[str] = []
        for start in range(0, len(captions), self.batch_size):
            out.extend(self._generate_batch(captions[start : start + self.batch_size]))
        return out

    def _generate_batch(self, captions: Sequence[str]) -> List[str]:
        tok = self.tokenizer
        old_side = getattr(tok, "padding_side", "right")
        tok.padding_side = "left"  # continuations start at the same column
        try:
            enc = tok(
                [self.prompt(c) for c in captions],
                return_tensors="pt",
                padding=True,
            )
        finally:
            tok.padding_side = old_side
        device = getattr(self.model, "device", None)
        if device is not None:
            enc = {k: v.to(device) for k, v in enc.items()}
        prompt_length = enc["input_ids"].shape[1]
        from transformers import StoppingCriteriaList

        ids = self.model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=tok.pad_token_id,
            stopping_criteria=StoppingCriteriaList([_NewlineStop(tok, prompt_length)]),
        )
        texts = tok.batch_decode(ids[:, prompt_length:], skip_special_tokens=True)
        return [postprocess_generation(t) for t in texts]


def resolve_negative(
    caption_id: str, caption: str, generated: Optional[str]
) -> Dict[str, Any]:
    """The cache record of one caption given the model's rewrite.

    A valid model rewrite is kept (source ``"llm"``), else a valid rule
    rewrite (``"rule"``, the reason saying why the model's was rejected), else
    the model output is recorded invalid.

    Arguments
    ---------
    caption_id : str
        Caption id.
    caption : str
        The positive caption.
    generated : str or None
        The post-processed model output.

    Returns
    -------
    dict
        A record for :class:`NegativeCache`.

    Example
    -------
    >>> resolve_negative("a#0", "a dog barks then a cat meows", "a cat meows then a dog barks")["source"]
    'llm'
    >>> r = resolve_negative("a#0", "a dog barks then a cat meows", "a dog barks")
    >>> r["source"], r["negative"], r["valid"]
    ('rule', 'a cat meows then a dog barks', True)
    """
    ok, reason = validate_negative(caption, generated)
    if ok:
        return make_record(caption_id, caption, generated, "llm", True, "ok")
    rule = swap_temporal_order(caption)
    rule_ok, rule_reason = (
        validate_negative(caption, rule)
        if rule is not None
        else (False, "no rule rewrite")
    )
    if rule_ok:
        return make_record(
            caption_id, caption, rule, "rule", True, f"llm rejected: {reason}"
        )
    return make_record(
        caption_id,
        caption,
        generated or None,
        "llm",
        False,
        f"llm rejected: {reason}; rule: {rule_reason}",
    )


def generate_negatives(
    items: Iterable[Tuple[str, str]],
    generator: LLMNegativeGenerator,
    cache_path: Union[str, os.PathLike],
    limit: Optional[int] = None,
) -> Dict[str, int]:
    """Writes LLM negatives of captions to a JSONL cache (resumable).

    Arguments
    ---------
    items : iterable of tuple
        ``(caption id, caption)`` pairs (see ``caption_negatives.caption_items``).
    generator : LLMNegativeGenerator
        Or any object with ``generate(captions) -> list`` and ``batch_size``.
    cache_path : str or os.PathLike
        JSONL cache, appended after every batch.
    limit : int, optional
        Send at most this many new captions to the model in this run.

    Returns
    -------
    dict
        Counts: ``captions`` (seen), ``cached`` (already in the cache),
        ``no_connective``, ``simultaneous_only`` (skipped: nothing to swap),
        ``duplicate`` (id repeated in ``items``), ``deferred`` (beyond
        ``limit``), ``llm``, ``rule`` and ``invalid`` (records written).

    Example
    -------
    >>> class Rules:  # stands in for a model: answers with the rule rewrite
    ...     batch_size = 2
    ...     def generate(self, captions):
    ...         return [swap_temporal_order(c) or "" for c in captions]
    >>> path = getfixture("tmpdir") / "neg.jsonl"
    >>> items = [("a#0", "a bell rings then a dog barks"), ("b#0", "rain falls")]
    >>> stats = generate_negatives(items, Rules(), path)
    >>> stats["llm"], stats["no_connective"]
    (1, 1)
    >>> generate_negatives(items, Rules(), path)["cached"]
    1
    """
    cache = NegativeCache(cache_path)
    done = cache.ids()
    stats: Counter = Counter(dict.fromkeys(_STATS, 0))
    todo: List[Tuple[str, str]] = []
    queued = set()
    for cid, caption in items:
        stats["captions"] += 1
        if cid in done:
            stats["cached"] += 1
        elif cid in queued:
            stats["duplicate"] += 1
        elif not has_temporal_connective(caption, sequential_only=True):
            kind = (
                "simultaneous_only"
                if has_temporal_connective(caption)
                else "no_connective"
            )
            stats[kind] += 1
        else:
            queued.add(cid)
            todo.append((cid, caption))
    if limit is not None and len(todo) > limit:
        stats["deferred"] = len(todo) - int(limit)
        todo = todo[: int(limit)]
    logger.info(
        "LLM negatives: %d captions, %d already cached, %d without a temporal "
        "connective, %d with simultaneity only (skipped), %d to rewrite.",
        stats["captions"],
        stats["cached"],
        stats["no_connective"],
        stats["simultaneous_only"],
        len(todo),
    )
    batch_size = max(1, int(getattr(generator, "batch_size", 8)))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        outputs = generator.generate([caption for _, caption in batch])
        if len(outputs) != len(batch):
            raise RuntimeError(
                f"the generator returned {len(outputs)} outputs for {len(batch)} captions"
            )
        records = [
            resolve_negative(cid, caption, output)
            for (cid, caption), output in zip(batch, outputs)
        ]
        cache.append(records)
        for record in records:
            stats["invalid" if not record["valid"] else record["source"]] += 1
        logger.info(
            "LLM negatives: %d/%d written (llm %d, rule %d, invalid %d).",
            min(start + batch_size, len(todo)),
            len(todo),
            stats["llm"],
            stats["rule"],
            stats["invalid"],
        )
    return dict(stats)
