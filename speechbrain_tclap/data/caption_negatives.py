"""Order-swapped negative captions for free-form captions (T-CLAP pipeline b).

"A dog barks followed by a car passes" becomes "a car passes followed by a
dog barks": the same sounds in another order, an extra text negative of the
clip. Sequential connectives ("followed by", "then", "before", "after",
"first ... then", "After X, Y", ...) split a caption into events;
simultaneity ones ("while", "as", "during", ...) carry no order and stay
inside an event. :func:`swap_temporal_order` rewrites by rule,
:func:`validate_negative` filters every rewrite (rule or LLM: same words,
same events, another order), :class:`NegativeCache` stores rewrites (JSONL,
by caption id ``"<row id>#<k>"``, see :func:`caption_id`) and
:class:`CaptionNegativeProvider` serves the data pipeline.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.batching import caption_key

logger = get_logger(__name__)

#: Sources recorded in the cache.
SOURCES = ("rule", "llm")

# Adverbs that may precede "before"/"after"/"followed by" and belong to the
# connective ("shortly after", "followed closely by").
_ADVERBS = (
    r"(?:shortly|soon|just|right|immediately|quickly|briefly|directly|long|closely)"
)

# Sequential connectives: (canonical name, direction, pattern). A pattern takes
# the separators around it, so the text between two matches is one event;
# earlier entries win at one position ("and then followed by": "followed by").
_SEQUENTIAL_SPECS: Tuple[Tuple[str, str, str], ...] = (
    ("after which", "forward", r"\s*[,;]?\s+after\s+(?:which|that|this)\b,?\s+"),
    (
        "followed by",
        "forward",
        r"\s*[,;]?\s+(?:and\s+)?(?:(?:is|are|was|were|which\s+is|that\s+is)\s+)?"
        rf"(?:then\s+)?(?:{_ADVERBS}\s+)?followed\s+(?:{_ADVERBS}\s+)?by\s+",
    ),
    ("and then", "forward", r"\s*[,;]?\s+and\s+then\b,?\s+"),
    ("then", "forward", r"\s*[,;]?\s+then\b,?\s+"),
    ("afterwards", "forward", r"\s*[,;]?\s+(?:and\s+)?afterwards?\b,?\s+"),
    ("subsequently", "forward", r"\s*[,;]?\s+(?:and\s+)?subsequently\b,?\s+"),
    ("later", "forward", r"(?:\s*[,;]\s*(?:and\s+)?|\s+and\s+)later\b,?\s+"),
    ("before", "forward", rf"\s*,?\s+(?:{_ADVERBS}\s+)?before\s+"),
    ("after", "backward", rf"\s*,?\s+(?:{_ADVERBS}\s+)?after\s+"),
)
_SEQUENTIAL = re.compile(
    "|".join(f"(?P<c{i}>{spec[2]})" for i, spec in enumerate(_SEQUENTIAL_SPECS)),
    re.IGNORECASE,
)
# "First X, then Y": the prefix stays in front of the first event.
_FIRST_PREFIX = re.compile(r"^(?:at\s+)?first(?:ly)?\b,?\s+", re.IGNORECASE)
# "After X, Y" (X then Y) and "Before X, Y" (Y then X).
_INITIAL = re.compile(r"^(after|before)\s+([^,;]+?)\s*[,;]\s*(.+)$", re.IGNORECASE)
# Simultaneity: recognised, never split on for order.
_SIMULTANEOUS = re.compile(
    r"\b(while|whilst|during|meanwhile|simultaneously|as)\b", re.IGNORECASE
)
# "as" that is not temporal: "such as", "as well as", "as if", "as loud as".
_NON_TEMPORAL_AS = re.compile(
    r"\b(?:such|well|same|much|many|long|soon)\s+as\b"
    r"|\bas\s+(?:if|though|well)\b"
    r"|\bas\s+\w+\s+as\b",
    re.IGNORECASE,
)
_TRAILING_PUNCT = re.compile(r"[\s.!?]+$")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_ARTICLE = re.compile(r"\b(a|an|the)(\s+)([A-Za-z][\w-]*)", re.IGNORECASE)

#: Words that carry no sound-event content (ignored by the validator).
STOPWORDS = frozenset(
    """a an the and or but nor of in on at by to into onto from with without
    for over under near off out up down through across along around against
    is are was were be been being am it its it's this that these those there
    here which who whom whose what some any one another other each every his
    her hers their theirs them they he she him we us our you your i me my
    s has have had do does did can could will would may might shall should
    very also too just then than so""".split()
)
#: Words of temporal connectives (ignored by the validator: a rewrite may
#: change "after" into "before").
CONNECTIVE_WORDS = frozenset(
    """followed then before after afterwards afterward subsequently later
    first firstly while whilst as during meanwhile simultaneously""".split()
)


@dataclass
class Connective:
    """One sequential connective found in a caption.

    Arguments
    ---------
    text : str
        The matched text, separators included (e.g. ``", then "``).
    name : str
        Canonical name (``"followed by"``, ``", then"``, ``"after"``, ...).
    direction : str
        ``"forward"`` (the left event happens first) or ``"backward"``
        (``"X after Y"``: the right event happens first).

    Example
    -------
    >>> Connective(" followed by ", "followed by", "forward").direction
    'forward'
    """

    text: str
    name: str
    direction: str


@dataclass
class TemporalParse:
    """A caption split into events around its sequential connectives.

    The caption is ``prefix + events[0] + connectives[0].text + events[1] ...
    + suffix`` ("After X, Y": ``prefix`` "After ", the comma the connective).

    Arguments
    ---------
    events : list of str
        Event clauses in textual order (simultaneity connectives stay inside).
    connectives : list of Connective
        ``len(events) - 1`` connectives.
    prefix : str
        Text before the first event (``"First "``, ``"After "``, or ``""``).
    suffix : str
        Final punctuation (``"."``, ``""``).

    Example
    -------
    >>> p = parse_temporal_caption("A dog barks, then a car passes.")
    >>> p.events, p.suffix
    (['A dog barks', 'a car passes'], '.')
    """

    events: List[str]
    connectives: List[Connective]
    prefix: str = ""
    suffix: str = ""

    def text(self) -> str:
        """Rebuild the caption.

        Returns
        -------
        str
            The caption these parts spell.

        Example
        -------
        >>> parse_temporal_caption("a bell rings after a dog barks").text()
        'a bell rings after a dog barks'
        """
        out = [self.prefix, self.events[0]]
        for conn, event in zip(self.connectives, self.events[1:]):
            out += [conn.text, event]
        return "".join(out) + self.suffix

    def temporal_order(self) -> Optional[List[str]]:
        """Events in the order they happen; None if ambiguous ("A after B then C").

        Returns
        -------
        list of str or None
            Event clauses, earliest first.

        Example
        -------
        >>> parse_temporal_caption("a bell rings after a dog barks").temporal_order()
        ['a dog barks', 'a bell rings']
        """
        directions = {c.direction for c in self.connectives}
        if len(directions) != 1:
            return None
        if directions == {"forward"}:
            return list(self.events)
        return list(reversed(self.events))

    @property
    def names(self) -> List[str]:
        """Canonical names of the connectives.

        Returns
        -------
        list of str
            e.g. ``["followed by", "then"]``.

        Example
        -------
        >>> parse_temporal_caption("a then b followed by c").names
        ['then', 'followed by']
        """
        return [c.name for c in self.connectives]


def _strip_suffix(caption: str) -> Tuple[str, str]:
    """Splits off final punctuation and whitespace."""
    caption = caption.strip()
    match = _TRAILING_PUNCT.search(caption)
    if match:
        return caption[: match.start()], caption[match.start() :].strip()
    return caption, ""


def _clean_event(text: str) -> str:
    """Strips whitespace and stray separators from an event clause."""
    return text.strip().strip(",;").strip()


def parse_temporal_caption(caption: str) -> Optional[TemporalParse]:
    """Splits a caption into events around its sequential connectives.

    Arguments
    ---------
    caption : str
        A free-form caption.

    Returns
    -------
    TemporalParse or None
        None when the caption has no sequential connective or an event
        clause would be empty.

    Example
    -------
    >>> p = parse_temporal_caption("First a whistle, then a dog barks and then a man laughs")
    >>> p.prefix, p.events, p.names
    ('First ', ['a whistle', 'a dog barks', 'a man laughs'], ['first ... then', 'and then'])
    >>> parse_temporal_caption("a man speaks while birds chirp") is None
    True
    """
    if not isinstance(caption, str):
        return None
    body, suffix = _strip_suffix(caption)
    prefix = ""
    first = _FIRST_PREFIX.match(body)
    if first and _SEQUENTIAL.search(body, first.end()):
        prefix, body = body[: first.end()], body[first.end() :]

    events: List[str] = []
    connectives: List[Connective] = []
    position = 0
    for match in _SEQUENTIAL.finditer(body):
        name, direction, _ = _SEQUENTIAL_SPECS[int(match.lastgroup[1:])]
        text = match.group(0)
        if name == "then" and "," in text.lower().split("then")[0]:
            name = ", then"
        if prefix and name in ("then", ", then") and not connectives:
            name = "first ... then"
        events.append(_clean_event(body[position : match.start()]))
        connectives.append(Connective(text, name, direction))
        position = match.end()
    if connectives:
        events.append(_clean_event(body[position:]))
        if any(not e for e in events):
            return None
        return TemporalParse(events, connectives, prefix, suffix)

    initial = _INITIAL.match(body)
    if initial:
        word, left, right = initial.groups()
        left, right = _clean_event(left), _clean_event(right)
        if left and right:
            direction = "forward" if word.lower() == "after" else "backward"
            separator = body[initial.end(2) : initial.start(3)]
            return TemporalParse(
                [left, right],
                [Connective(separator, f"{word.lower()} ..., ", direction)],
                prefix=body[: initial.start(2)],
                suffix=suffix,
            )
    return None


def _simultaneity_matches(text: str) -> List["re.Match"]:
    """Temporal uses of while/as/during/... (non-temporal "as" removed)."""
    excluded = [m.span() for m in _NON_TEMPORAL_AS.finditer(text)]
    out = []
    for match in _SIMULTANEOUS.finditer(text):
        if match.group(1).lower() == "as" and any(
            s <= match.start() < e for s, e in excluded
        ):
            continue
        out.append(match)
    return out


def has_temporal_connective(caption: str, sequential_only: bool = False) -> bool:
    """Whether a caption holds a temporal connective.

    Arguments
    ---------
    caption : str
        A caption.
    sequential_only : bool
        Count only connectives that give an order, not "while", "as", ...

    Returns
    -------
    bool
        True when one is found.

    Example
    -------
    >>> has_temporal_connective("a man talks while a dog barks")
    True
    >>> has_temporal_connective("a man talks while a dog barks", sequential_only=True)
    False
    >>> has_temporal_connective("sounds such as rain and wind")
    False
    """
    if not isinstance(caption, str):
        return False
    if parse_temporal_caption(caption) is not None:
        return True
    body, _ = _strip_suffix(caption)
    if _SEQUENTIAL.search(body):
        return True
    if sequential_only:
        return False
    return bool(_simultaneity_matches(body))


def split_on_connective(caption: str) -> Optional[Tuple[str, str, str]]:
    """Splits a caption at its first sequential (else simultaneity) connective.

    Arguments
    ---------
    caption : str
        A caption.

    Returns
    -------
    tuple of str or None
        ``(first, connective name, second)`` without final punctuation
        ("After X, Y": ``(X, "after ..., ", Y)``), or None.

    Example
    -------
    >>> split_on_connective("A dog barks followed by a car passing by.")
    ('A dog barks', 'followed by', 'a car passing by')
    >>> split_on_connective("a man speaks as birds chirp")
    ('a man speaks', 'as', 'birds chirp')
    >>> split_on_connective("rain falls") is None
    True
    """
    parsed = parse_temporal_caption(caption)
    if parsed is not None:
        rest = TemporalParse(parsed.events[1:], parsed.connectives[1:], "", "").text()
        return parsed.events[0], parsed.names[0], rest
    if not isinstance(caption, str):
        return None
    body, _ = _strip_suffix(caption)
    for match in _simultaneity_matches(body):
        left = _clean_event(body[: match.start()])
        right = _clean_event(body[match.end() :])
        if left and right:
            return left, match.group(1).lower(), right
    return None


def _lower_first(text: str) -> str:
    """Lower-cases the first letter of an ordinary capitalised word."""
    word = text.split(" ", 1)[0]
    if not word or not word[0].isupper() or word == "I":
        return text
    if len(word) > 1 and not word[1:].islower():
        return text  # acronym ("TV") or mixed case: leave it
    return text[0].lower() + text[1:]


def _fix_articles(original_events: Sequence[str], new_events: List[str]) -> List[str]:
    """Moves "a X" to the first mention of X and "the X" to the later ones."""
    indefinite: Dict[str, str] = {}
    definite = set()
    for event in original_events:
        for article, _, head in _ARTICLE.findall(event):
            if article.lower() == "the":
                definite.add(head.lower())
            else:
                indefinite.setdefault(head.lower(), article.lower())
    linked = set(indefinite) & definite
    if not linked:
        return new_events
    seen = set()

    def repl(match: "re.Match") -> str:
        article, space, head = match.groups()
        key = head.lower()
        if key not in linked:
            return match.group(0)
        wanted = "the" if key in seen else indefinite[key]
        seen.add(key)
        if article[0].isupper():
            wanted = wanted.capitalize()
        return f"{wanted}{space}{head}"

    return [_ARTICLE.sub(repl, event) for event in new_events]


def swap_temporal_order(caption: str) -> Optional[str]:
    """Rule-based order-swapped rewrite of a caption.

    The events are reversed, the connectives stay in place ("A after B"
    becomes "B after A"; "A then B then C", "C then B then A"); clauses joined
    by "while", "as", ... move together. Capitalisation and final punctuation
    are kept and "a dog ... the dog" is re-articled for the new order.

    Arguments
    ---------
    caption : str
        A caption.

    Returns
    -------
    str or None
        The rewrite, or None without a swappable connective (none, only
        simultaneity, or "after" mixed with forward connectives).

    Example
    -------
    >>> swap_temporal_order("A dog barks followed by a car passing.")
    'A car passing followed by a dog barks.'
    >>> swap_temporal_order("a man speaks and then the man laughs")
    'a man laughs and then the man speaks'
    >>> swap_temporal_order("a bell rings after a dog barks")
    'a dog barks after a bell rings'
    >>> swap_temporal_order("a man talks while a dog barks") is None
    True
    """
    parsed = parse_temporal_caption(caption)
    if parsed is None or parsed.temporal_order() is None:
        return None
    events = list(parsed.events)
    capitalised = not parsed.prefix and events[0][:1].isupper()
    if capitalised:
        events[0] = _lower_first(events[0])
    new_events = _fix_articles(parsed.events, list(reversed(events)))
    swapped = TemporalParse(
        new_events, parsed.connectives, parsed.prefix, parsed.suffix
    ).text()
    if capitalised:
        swapped = swapped[0].upper() + swapped[1:]
    if caption_key(swapped) == caption_key(caption):
        return None  # symmetric caption ("a beep then a beep")
    return swapped


def content_words(text: str) -> Counter:
    """Multiset of a caption's lower-cased words, less :data:`STOPWORDS` and
    :data:`CONNECTIVE_WORDS`.

    Arguments
    ---------
    text : str
        A caption or clause.

    Returns
    -------
    collections.Counter
        Word counts.

    Example
    -------
    >>> sorted(content_words("A dog barks, then the dog whimpers.").elements())
    ['barks', 'dog', 'dog', 'whimpers']
    """
    words = _WORD.findall(text.lower())
    return Counter(w for w in words if w not in STOPWORDS and w not in CONNECTIVE_WORDS)


def _event_bag(event: str) -> Tuple[str, ...]:
    return tuple(sorted(content_words(event).elements()))


def validate_negative(original: str, rewritten: Optional[str]) -> Tuple[bool, str]:
    """Checks that a rewrite is a true order-swapped negative of a caption.

    The rewrite must differ, keep the multiset of :func:`content_words` and
    the word bag of each event clause, and put the events in another order; a
    simultaneity-only rewrite ("while") states no order and is rejected.

    Arguments
    ---------
    original : str
        The positive caption.
    rewritten : str or None
        The candidate negative.

    Returns
    -------
    tuple
        ``(ok, reason)``; ``reason`` is ``"ok"`` or why it was rejected.

    Example
    -------
    >>> validate_negative("a dog barks then a car passes", "a car passes then a dog barks")
    (True, 'ok')
    >>> validate_negative("a dog barks then a car passes", "a dog barks before a car passes")
    (False, 'same event order as the original')
    >>> validate_negative("a dog barks then a car passes", "a car passes while a dog barks")[1]
    "simultaneity rewrite ('while') states no event order"
    >>> validate_negative("a dog barks then a car passes", "a cat meows then a dog barks")[1]
    "content words differ (missing: ['car', 'passes']; added: ['cat', 'meows'])"
    """
    if not isinstance(original, str) or not original.strip():
        return False, "empty original caption"
    if not isinstance(rewritten, str) or not rewritten.strip():
        return False, "empty rewrite"
    if caption_key(rewritten) == caption_key(original):
        return False, "identical to the original"
    before, after = content_words(original), content_words(rewritten)
    if before != after:
        missing = sorted((before - after).elements())
        added = sorted((after - before).elements())
        return False, f"content words differ (missing: {missing}; added: {added})"
    parsed_original = parse_temporal_caption(original)
    if parsed_original is None:
        return False, "original has no sequential connective (no event order)"
    parsed_rewrite = parse_temporal_caption(rewritten)
    if parsed_rewrite is None:
        simultaneous = _simultaneity_matches(_strip_suffix(rewritten)[0])
        if simultaneous:
            word = simultaneous[0].group(1).lower()
            return False, f"simultaneity rewrite ({word!r}) states no event order"
        return False, "rewrite has no sequential connective (no event order)"
    order_original = parsed_original.temporal_order()
    order_rewrite = parsed_rewrite.temporal_order()
    if order_original is None or order_rewrite is None:
        return False, "ambiguous event order (mixes 'after' with forward connectives)"
    bags_original = [_event_bag(e) for e in order_original]
    bags_rewrite = [_event_bag(e) for e in order_rewrite]
    if Counter(bags_original) != Counter(bags_rewrite):
        return False, "events differ (words moved between event clauses)"
    if bags_original == bags_rewrite:
        return False, "same event order as the original"
    return True, "ok"


def caption_id(row_id: str, index: int) -> str:
    """Id of the ``index``-th caption of manifest row ``row_id``.

    Arguments
    ---------
    row_id : str
        Manifest row id.
    index : int
        Position in the row's ``captions`` (0 for a single ``caption``).

    Returns
    -------
    str
        ``"<row_id>#<index>"``.

    Example
    -------
    >>> caption_id("clip_7", 2)
    'clip_7#2'
    """
    return f"{row_id}#{int(index)}"


def caption_items(rows: Mapping[str, Mapping[str, Any]]) -> List[Tuple[str, str]]:
    """All ``(caption id, caption)`` pairs of a manifest, in file order.

    Arguments
    ---------
    rows : mapping
        ``{row id: row}`` with ``captions`` (list) or ``caption``.

    Returns
    -------
    list of tuple
        ``[(caption_id, caption)]``.

    Example
    -------
    >>> caption_items({"a": {"captions": ["x", "y"]}, "b": {"caption": "z"}})
    [('a#0', 'x'), ('a#1', 'y'), ('b#0', 'z')]
    """
    out = []
    for row_id, row in rows.items():
        captions = row.get("captions") or [row.get("caption")]
        for index, text in enumerate(captions):
            if isinstance(text, str) and text.strip():
                out.append((caption_id(row_id, index), text))
    return out


class NegativeCacheError(ValueError):
    """A negative-cache line is unusable; names the file and line.

    Arguments
    ---------
    path : str
        The cache file.
    line : int
        1-based line number.
    problem : str
        What is wrong.

    Example
    -------
    >>> print(NegativeCacheError("neg.jsonl", 3, "not valid JSON"))
    neg.jsonl, line 3: not valid JSON
    """

    def __init__(self, path: str, line: int, problem: str):
        self.path, self.line, self.problem = str(path), int(line), problem
        super().__init__(f"{self.path}, line {self.line}: {problem}")


_REQUIRED_FIELDS = {
    "id": str,
    "caption": str,
    "negative": (str, type(None)),
    "valid": bool,
}


class NegativeCache:
    """JSONL cache of negative captions keyed by caption id.

    One record per line (:func:`make_record`). Invalid records are kept, so a
    resumed run skips captions already tried; per id the last *valid* record
    wins. Corrupted lines (a crash mid-write, hand edits) are reported with
    their line numbers and skipped, or raised with ``strict=True``.

    Arguments
    ---------
    path : str or os.PathLike
        The JSONL file (created on first write).

    Example
    -------
    >>> cache = NegativeCache(getfixture("tmpdir") / "neg.jsonl")
    >>> cache.append([make_record("c#0", "a then b", "b then a", "rule")])
    >>> NegativeCache.load(cache.path)
    {'c#0': 'b then a'}
    """

    def __init__(self, path: Union[str, os.PathLike]):
        self.path = os.fspath(path)

    @staticmethod
    def read_records(
        path: Union[str, os.PathLike], strict: bool = False
    ) -> Tuple[List[Tuple[int, Dict[str, Any]]], List[str]]:
        """Reads every well-formed record with its line number.

        Arguments
        ---------
        path : str or os.PathLike
            The JSONL file; a missing file has no records.
        strict : bool
            Raise :class:`NegativeCacheError` on the first bad line.

        Returns
        -------
        tuple
            ``([(line number, record)], [problem, ...])`` where each problem
            reads ``"<path>, line N: ..."``.

        Example
        -------
        >>> path = getfixture("tmpdir") / "c.jsonl"
        >>> _ = path.write_text('{"id": "a#0"\\n', encoding="utf-8")
        >>> records, problems = NegativeCache.read_records(path)
        >>> print(records, problems[0])  # doctest: +ELLIPSIS
        [] ...c.jsonl, line 1: not valid JSON (...)
        """
        path = os.fspath(path)
        records: List[Tuple[int, Dict[str, Any]]] = []
        problems: List[str] = []
        if not os.path.isfile(path):
            return records, problems
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = _check_record(line)
                except ValueError as exc:
                    err = NegativeCacheError(path, number, str(exc))
                    if strict:
                        raise err from exc
                    problems.append(str(err))
                    continue
                records.append((number, record))
        return records, problems

    @classmethod
    def load_entries(
        cls, path: Union[str, os.PathLike], strict: bool = False
    ) -> Dict[str, Dict[str, Any]]:
        """Valid records by id (last valid record wins); problems are logged.

        Arguments
        ---------
        path : str or os.PathLike
            The JSONL file.
        strict : bool
            Raise on a bad line.

        Returns
        -------
        dict
            ``{caption id: record}``.

        Example
        -------
        >>> path = getfixture("tmpdir") / "e.jsonl"
        >>> NegativeCache(path).append([
        ...     make_record("a#0", "x then y", "y then x", "llm"),
        ...     make_record("a#0", "x then y", "x then y", "llm", valid=False)])
        >>> NegativeCache.load_entries(path)["a#0"]["negative"]
        'y then x'
        """
        records, problems = cls.read_records(path, strict=strict)
        for problem in problems:
            logger.warning("negative cache: skipping corrupted %s", problem)
        entries: Dict[str, Dict[str, Any]] = {}
        for _, record in records:
            if record["valid"] and record["negative"]:
                entries[record["id"]] = record
        return entries

    @classmethod
    def load(
        cls, path: Union[str, os.PathLike], strict: bool = False
    ) -> Dict[str, str]:
        """``{caption id: negative}`` of the valid records of a cache file.

        Arguments
        ---------
        path : str or os.PathLike
            The JSONL file (missing: empty result).
        strict : bool
            Raise :class:`NegativeCacheError` on a corrupted line.

        Returns
        -------
        dict
            Negatives by caption id.

        Example
        -------
        >>> NegativeCache.load(getfixture("tmpdir") / "missing.jsonl")
        {}
        """
        return {
            key: record["negative"]
            for key, record in cls.load_entries(path, strict=strict).items()
        }

    def ids(self) -> set:
        """Ids with any well-formed record, valid or not (for resuming).

        Returns
        -------
        set of str
            Caption ids already processed.

        Example
        -------
        >>> cache = NegativeCache(getfixture("tmpdir") / "i.jsonl")
        >>> cache.append([make_record("b#1", "x", None, "llm", valid=False)])
        >>> cache.ids()
        {'b#1'}
        """
        records, _ = self.read_records(self.path)
        return {record["id"] for _, record in records}

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Appends records (one JSON object per line) and flushes them.

        A last line cut short by a crash first gets a newline, so it stays one
        reported corrupted line.

        Arguments
        ---------
        records : iterable of mapping
            Records as built by :func:`make_record`.
        """
        lines = [_dump_record(r) for r in records]
        if not lines:
            return
        needs_newline = False
        if os.path.isfile(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                needs_newline = f.read(1) != b"\n"
        _write_synced(self.path, "a", "\n" * needs_newline + "".join(lines))

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Replaces the file with ``records`` (atomically).

        Arguments
        ---------
        records : iterable of mapping
            Records as built by :func:`make_record`.

        Example
        -------
        >>> cache = NegativeCache(getfixture("tmpdir") / "w.jsonl")
        >>> cache.write([make_record("a#0", "x then y", "y then x", "rule")])
        >>> cache.write([])
        >>> NegativeCache.load(cache.path)
        {}
        """
        tmp = f"{self.path}.tmp"
        _write_synced(tmp, "w", "".join(_dump_record(r) for r in records))
        os.replace(tmp, self.path)


def _write_synced(path: str, mode: str, text: str) -> None:
    """Writes ``text`` (mode ``"a"`` or ``"w"``) and syncs it to disk."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, mode, encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def make_record(
    caption_id: str,
    caption: str,
    negative: Optional[str],
    source: str,
    valid: Optional[bool] = None,
    reason: Optional[str] = None,
) -> Dict[str, Any]:
    """A cache record; validates the negative unless told the verdict.

    Arguments
    ---------
    caption_id : str
        Id of the caption (see :func:`caption_id`).
    caption : str
        The positive caption.
    negative : str or None
        The rewrite.
    source : str
        ``"rule"`` or ``"llm"``.
    valid : bool, optional
        Verdict; computed with :func:`validate_negative` when None.
    reason : str, optional
        Why; computed with the verdict when None.

    Returns
    -------
    dict
        ``{"id", "caption", "negative", "source", "valid", "reason"}``.

    Example
    -------
    >>> make_record("a#0", "x then y", "y then x", "rule")["valid"]
    True
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if valid is None:
        valid, computed = validate_negative(caption, negative)
        reason = reason if reason is not None else computed
    return {
        "id": str(caption_id),
        "caption": caption,
        "negative": negative,
        "source": source,
        "valid": bool(valid),
        "reason": reason if reason is not None else ("ok" if valid else ""),
    }


def _dump_record(record: Mapping[str, Any]) -> str:
    _check_record(json.dumps(dict(record), ensure_ascii=False))
    return json.dumps(dict(record), ensure_ascii=False) + "\n"


def _check_record(line: str) -> Dict[str, Any]:
    """Parses and checks one JSONL record; raises ValueError with the reason."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise ValueError(f"a {type(record).__name__}, expected an object")
    for name, kind in _REQUIRED_FIELDS.items():
        if name not in record:
            raise ValueError(f"missing field {name!r}")
        if not isinstance(record[name], kind):
            raise ValueError(f"field {name!r} has type {type(record[name]).__name__}")
    if record.get("source") not in SOURCES:
        raise ValueError(
            f"'source' must be one of {SOURCES}, got {record.get('source')!r}"
        )
    if not record["id"].strip():
        raise ValueError("empty 'id'")
    return record


class CaptionNegativeProvider:
    """Order-swapped negative of a caption for the data pipeline.

    Looks the caption up in a :class:`NegativeCache` (by id, then by text;
    a record of another caption is ignored), then tries
    :func:`swap_temporal_order`. Every answer passes :func:`validate_negative`;
    None: no usable negative. ``counts`` tallies the answers' sources.

    Arguments
    ---------
    cache_path : str or os.PathLike, optional
        JSONL cache (e.g. written by ``scripts/make_llm_negatives.py``).
    use_rules : bool
        Use the rule rewriter when the cache has nothing.

    Example
    -------
    >>> provider = CaptionNegativeProvider()
    >>> provider("clip#0", "Birds chirp, then a door slams.")
    'A door slams, then birds chirp.'
    >>> provider("clip#1", "a door slams") is None
    True
    >>> provider.counts
    {'cache': 0, 'rule': 1, 'none': 1}
    """

    def __init__(
        self,
        cache_path: Optional[Union[str, os.PathLike]] = None,
        use_rules: bool = True,
    ):
        self.cache_path = None if cache_path is None else os.fspath(cache_path)
        self.use_rules = use_rules
        self.by_id: Dict[str, Dict[str, Any]] = {}
        self.by_text: Dict[str, str] = {}
        if self.cache_path is not None:
            if not os.path.isfile(self.cache_path):
                raise FileNotFoundError(f"negative cache not found: {self.cache_path}")
            self.by_id = NegativeCache.load_entries(self.cache_path)
            for record in self.by_id.values():
                self.by_text.setdefault(
                    caption_key(record["caption"]), record["negative"]
                )
        self.counts = {"cache": 0, "rule": 0, "none": 0}

    def __call__(self, caption_id: Optional[str], caption: str) -> Optional[str]:
        """Negative of one caption, or None.

        Arguments
        ---------
        caption_id : str or None
            Caption id (see :func:`caption_id`); None looks up by text only.
        caption : str
            The positive caption.

        Returns
        -------
        str or None
            A validated order-swapped caption.
        """
        key = caption_key(caption)
        candidates = []
        record = self.by_id.get(caption_id) if caption_id is not None else None
        if record is not None and caption_key(record["caption"]) == key:
            candidates.append(record["negative"])
        if key in self.by_text:
            candidates.append(self.by_text[key])
        for negative in candidates:
            if validate_negative(caption, negative)[0]:
                self.counts["cache"] += 1
                return negative
        if self.use_rules:
            negative = swap_temporal_order(caption)
            if negative is not None and validate_negative(caption, negative)[0]:
                self.counts["rule"] += 1
                return negative
        self.counts["none"] += 1
        return None
