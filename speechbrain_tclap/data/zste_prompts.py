"""The prompts of ZSTE (zero-shot temporal evaluation), without the evaluation.

:class:`ZSTEPrompts` builds every prompt ZSTE (Sinha et al. 2024) scores:
class prompts (tasks 1, 2), "A before B" / "A while B" pair prompts (tasks 3,
4) and "first / second sound" slot prompts (task 5).
:class:`speechbrain_tclap.evaluation.zste.ZSTE` scores them and recipes put
them in a from-scratch tokenizer's vocabulary
(:func:`speechbrain_tclap.recipe.temporal_vocabulary`); living in the data
layer spares the trainer an import of the evaluation.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import List, Sequence

from speechbrain_tclap.data.temporal import check_template, fill_template, label_pairs

#: Prompt of tasks 1-4 (``{}``: a class name or a pair caption), as the authors'.
DEFAULT_PROMPT = "this is a sound of {}"
#: Slot prompts of task 5 (first, second).
DEFAULT_SLOT_TEMPLATES = (
    "In this concatenated sound, the first sound is {}",
    "In this concatenated sound, the second sound is {}",
)


class ZSTEPrompts:
    """Every prompt of the five ZSTE tasks, from templates and class names.

    Arguments
    ---------
    pair_builder : TemporalViewBuilder
        Names the classes in captions (``name(label)``: its ``label_names``
        or the readable label).
    prompt_template : str
        Prompt of tasks 1-4 with ``{}``.
    before_template : str
        Ordered pair caption (``{A}`` first).
    while_template : str
        Overlay caption (names sorted).
    slot_templates : sequence of str
        The "first" and "second" prompts of task 5, with ``{}``.

    Example
    -------
    >>> from speechbrain_tclap.data.temporal import TemporalViewBuilder
    >>> prompts = ZSTEPrompts(TemporalViewBuilder(16000, 1.0))
    >>> prompts.class_prompt("sea_waves")
    'this is a sound of sea waves'
    >>> prompts.slot_prompt(1, "dog")
    'In this concatenated sound, the second sound is dog'
    >>> len(prompts.prompts(["dog", "rain"]))  # 2 classes + 4 slots + 1 while + 2 orders
    9
    """

    def __init__(
        self,
        pair_builder,
        prompt_template: str = DEFAULT_PROMPT,
        before_template: str = "{A} before {B}",
        while_template: str = "{A} while {B}",
        slot_templates: Sequence[str] = DEFAULT_SLOT_TEMPLATES,
    ):
        if len(slot_templates) != 2:
            raise ValueError("slot_templates needs the 'first' and 'second' prompts")
        for template in (prompt_template, *slot_templates):
            if template.count("{}") != 1:
                raise ValueError(f"ZSTE prompt {template!r} must contain '{{}}' once")
        self.pair_builder = pair_builder
        self.prompt_template = prompt_template
        self.before_template = check_template(before_template)
        self.while_template = check_template(while_template)
        self.slot_templates = list(slot_templates)

    def _name(self, label: str) -> str:
        return self.pair_builder.name(label)

    def class_prompt(self, label: str) -> str:
        """Prompt of one class (tasks 1 and 2).

        Arguments
        ---------
        label : str
            Class label.

        Returns
        -------
        str
            The prompt.
        """
        return self.prompt_template.format(self._name(label))

    def order_prompt(self, first: str, second: str) -> str:
        """Prompt of "first before second" (tasks 3 and 4).

        Arguments
        ---------
        first : str
            Label heard first.
        second : str
            Label heard second.

        Returns
        -------
        str
            The prompt.
        """
        caption = fill_template(
            self.before_template, self._name(first), self._name(second)
        )
        return self.prompt_template.format(caption)

    def while_prompt(self, a: str, b: str) -> str:
        """Prompt of "a while b", names sorted (tasks 3 and 4).

        Arguments
        ---------
        a : str
            One label.
        b : str
            The other label.

        Returns
        -------
        str
            The prompt.
        """
        caption = fill_template(
            self.while_template, *sorted((self._name(a), self._name(b)))
        )
        return self.prompt_template.format(caption)

    def slot_prompt(self, slot: int, label: str) -> str:
        """Prompt "the first (slot 0) / second (slot 1) sound is <label>" (task 5).

        Arguments
        ---------
        slot : int
            0 or 1.
        label : str
            Class label.

        Returns
        -------
        str
            The prompt.
        """
        return self.slot_templates[slot].format(self._name(label))

    def prompts(self, labels: Sequence[str]) -> List[str]:
        """Every prompt ZSTE can score for ``labels`` (e.g. to train a tokenizer).

        Arguments
        ---------
        labels : sequence of str
            Class labels.

        Returns
        -------
        list of str
            Distinct prompts, sorted.
        """
        out = {self.class_prompt(a) for a in labels}
        out.update(self.slot_prompt(s, a) for a in labels for s in (0, 1))
        for a, b in label_pairs(labels):
            out.update((self.order_prompt(a, b), self.while_prompt(a, b)))
        return sorted(out)
