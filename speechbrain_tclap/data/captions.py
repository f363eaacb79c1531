"""Captions of sound-event clips: templates and the caption of an event list.

A clip's events (label, onset, offset) become a caption that states their
order ("a bell followed by hiss") or deliberately not ("bell and hiss"):
:func:`caption_for_events`, with templates naming the events ``{A}``,
``{B}``, ... (:data:`TEMPLATE_SLOT`), which the sample builders fill as well.
Zero-shot class prompts come from :func:`class_prompts`, the one prompt
builder.

Authors
 * speechbrain-tclap developers 2026
"""

import re
import string
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from speechbrain_tclap.data.labels import readable_label

#: The zero-shot prompt of a class name when a model or task names none
#: (MS-CLAP's and LAION's "This is a sound of {}."): its one home.
DEFAULT_PROMPT_TEMPLATE = "This is a sound of {}."


def class_prompts(
    labels: Iterable[str],
    template: Optional[str] = None,
    words: Callable[[str], str] = readable_label,
) -> List[str]:
    """One zero-shot prompt per class: the label's words in the template's ``{}``.

    Arguments
    ---------
    labels : iterable of str
        Class labels.
    template : str, optional
        Prompt with one ``{}`` (``{{``, ``}}``: literal braces); default
        :data:`DEFAULT_PROMPT_TEMPLATE`.
    words : callable
        Label -> words (default: underscores and dashes become spaces).

    Returns
    -------
    list of str
        One prompt per label.

    Example
    -------
    >>> class_prompts(["dog_bark", "rain"])
    ['This is a sound of dog bark.', 'This is a sound of rain.']
    >>> class_prompts(["rain"], "a sound")
    Traceback (most recent call last):
        ...
    ValueError: prompt template 'a sound' must hold the class name as one '{}' (without it every class gets the same prompt)
    """
    template = check_prompt_template(
        DEFAULT_PROMPT_TEMPLATE if template is None else template
    )
    return [template.format(words(label)) for label in labels]


def check_prompt_template(template: str) -> str:
    """A prompt template with exactly one ``{}`` slot, else ``ValueError``.

    Arguments
    ---------
    template : str
        The template (``{{``, ``}}``: literal braces).

    Returns
    -------
    str
        ``template``, checked.

    Example
    -------
    >>> check_prompt_template("the sound of {}")
    'the sound of {}'
    >>> check_prompt_template("{} and {}")
    Traceback (most recent call last):
        ...
    ValueError: prompt template '{} and {}' must hold the class name as one '{}' (without it every class gets the same prompt)
    """
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    if fields != [""]:
        raise ValueError(
            f"prompt template {template!r} must hold the class name as one '{{}}' "
            "(without it every class gets the same prompt)"
        )
    return template


#: Caption templates; ``{A}``, ``{B}``, ... are the events (in time order for
#: "ordered", alphabetical for "unordered"). A template is used for clips
#: whose event count equals its number of placeholders.
DEFAULT_TEMPLATES: Dict[str, List[str]] = {
    "single": ["the sound of {A}", "{A}", "{A} can be heard"],
    "ordered": [
        "{A} followed by {B}",
        "{A}, then {B}",
        "first {A}, then {B}",
        "{A} before {B}",
        "{B} after {A}",
        "{A} followed by {B} followed by {C}",
        "{A}, then {B}, then {C}",
        "first {A}, then {B}, and finally {C}",
    ],
    "unordered": [
        "{A} and {B}",
        "{A} together with {B}",
        "a mix of {A} and {B}",
        "{A}, {B} and {C}",
        "a mix of {A}, {B} and {C}",
    ],
}

#: Caption styles: ``"ordered"`` ("A followed by B"), ``"unordered"`` ("A and
#: B", names sorted) and ``"unordered_with_ordered"`` (order-free caption for
#: the contrastive loss, the ordered one and its swap aside for the temporal
#: loss, so order never competes with what the frames learn).
CAPTION_STYLES = ("ordered", "unordered", "unordered_with_ordered")


def contrastive_style(style: str) -> str:
    """The style of the caption the contrastive loss reads, for a caption style.

    Arguments
    ---------
    style : str
        One of :data:`CAPTION_STYLES`.

    Returns
    -------
    str
        ``"ordered"`` or ``"unordered"``.

    Example
    -------
    >>> contrastive_style("unordered_with_ordered")
    'unordered'
    """
    if style not in CAPTION_STYLES:
        raise ValueError(
            f"caption style must be one of {CAPTION_STYLES}, got {style!r}"
        )
    return "ordered" if style == "ordered" else "unordered"


#: A template slot: ``{A}``, ``{B}``, ... (one capital letter per event).
TEMPLATE_SLOT = re.compile(r"\{([A-Z])\}")


def unicode_problem(text: str) -> Optional[str]:
    r"""Why a caption cannot be encoded as UTF-8 (a lone surrogate), or None.

    Such strings come from JSON escapes (``"\udc80"``) or ``surrogateescape``
    decoding; tokenizers fail on them late, without naming the caption.

    Arguments
    ---------
    text : str
        A caption.

    Returns
    -------
    str or None
        The problem, naming the character and its position.

    Example
    -------
    >>> unicode_problem("a dog barks") is None
    True
    >>> unicode_problem("a dog \udc80")
    "character 6 ('\\udc80') is a lone surrogate, which UTF-8 cannot encode"
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return (
            f"character {err.start} ({text[err.start]!r}) is a lone surrogate, "
            "which UTF-8 cannot encode"
        )
    return None


def _n_slots(template: str) -> int:
    return len(set(TEMPLATE_SLOT.findall(template)))


def caption_for_events(
    events: Sequence[Union[Mapping[str, object], str]],
    style: str = "ordered",
    templates: Optional[Mapping[str, Sequence[str]]] = None,
    rng: Union[np.random.Generator, int, None] = None,
) -> str:
    """Writes a caption for a clip's events.

    ``"ordered"`` names the events in time order ("A followed by B"),
    ``"unordered"`` sorted ("A and B"); one event uses the ``"single"``
    templates. Without a fitting template (e.g. four events) the names are
    joined with " followed by " or ", ... and ...".

    Arguments
    ---------
    events : sequence of dict or str
        Events with ``"label"`` (and ``"onset"``, used to sort them), or
        labels already in time order.
    style : str
        ``"ordered"`` or ``"unordered"``.
    templates : mapping, optional
        Replaces :data:`DEFAULT_TEMPLATES` (keys ``"single"``, ``"ordered"``,
        ``"unordered"``; missing keys fall back to the defaults).
    rng : np.random.Generator or int, optional
        Draws the template; None means the first fitting one.

    Returns
    -------
    str
        The caption.

    Example
    -------
    >>> events = [
    ...     {"label": "hiss", "onset": 1.2, "offset": 1.8},
    ...     {"label": "rising_chirp", "onset": 0.1, "offset": 0.9},
    ... ]
    >>> caption_for_events(events)
    'rising chirp followed by hiss'
    >>> caption_for_events(events, style="unordered")
    'hiss and rising chirp'
    >>> caption_for_events(events[:1])
    'the sound of hiss'
    """
    if style not in ("ordered", "unordered"):
        raise ValueError(f"style must be 'ordered' or 'unordered', got {style!r}")
    if not events:
        raise ValueError("cannot caption a clip without events")
    if isinstance(events[0], Mapping):
        ordered = sorted(
            events, key=lambda e: (e.get("onset", 0.0), e.get("offset", 0.0))
        )
        names = [readable_label(str(e["label"])) for e in ordered]
    else:
        names = [readable_label(str(e)) for e in events]
    if style == "unordered":
        names = sorted(names)

    merged = dict(DEFAULT_TEMPLATES)
    if templates is not None:
        merged.update({k: list(v) for k, v in templates.items()})
    group = "single" if len(names) == 1 else style
    fitting = [t for t in merged.get(group, []) if _n_slots(t) == len(names)]
    if not fitting:
        if len(names) == 1:
            return names[0]
        if style == "ordered":
            return " followed by ".join(names)
        return ", ".join(names[:-1]) + " and " + names[-1]
    if rng is None:
        template = fitting[0]
    else:
        template = fitting[int(np.random.default_rng(rng).integers(len(fitting)))]
    slots = {chr(ord("A") + i): name for i, name in enumerate(names)}
    return template.format(**slots)
