"""The held-out words of the ESC-50 and synthetic recipes are held out: no
training caption (single clips, every pair caption of every training
phrasing in both orders, order-free captions, zero-shot prompts) contains a
paraphrased label or a held-out temporal phrasing."""

import itertools
import re
from pathlib import Path

import pytest
import yaml

from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.data.captions import DEFAULT_TEMPLATES, TEMPLATE_SLOT
from speechbrain_tclap.data.synthetic import EVENT_CLASSES
from speechbrain_tclap.data.temporal import TemporalViewBuilder
from speechbrain_tclap.metrics import ordered_pair_captions

ROOT = Path(__file__).resolve().parents[2]


def _load(recipe):
    return yaml.safe_load((ROOT / "recipes" / recipe / "CLAP" / "phrasings.yaml").read_text())


def _esc50_training_captions(phrasings):
    classes = sorted(phrasings["paraphrases"])
    captions = [f"the sound of {readable_label(c)}" for c in classes]
    for style, key in (("ordered", "training_templates"), ("ordered", "rich_training_templates"),
                       ("ordered", "many_training_templates"),
                       ("ordered", "balanced_training_templates"), ("unordered", None)):
        builder = TemporalViewBuilder(
            16000, 1.0, caption_style=style,
            templates=phrasings[key] if key else None, order_negative=style == "ordered",
        )
        captions += builder.all_captions(classes)
    return captions


def _synthetic_training_captions(phrasings):
    names = [readable_label(c) for c in EVENT_CLASSES]
    captions = [f"This is a sound of {n}." for n in names]
    for templates in DEFAULT_TEMPLATES.values():
        for template in templates:
            slots = sorted(set(TEMPLATE_SLOT.findall(template)))
            for combo in itertools.permutations(names, len(slots)):
                captions.append(TEMPLATE_SLOT.sub(
                    lambda m: combo[slots.index(m.group(1))], template))
    return captions


RECIPES = {
    "ESC50": (_load("ESC50"), _esc50_training_captions),
    "Synthetic": (_load("Synthetic"), _synthetic_training_captions),
}
TRAINING = {name: [c.lower() for c in make(p)] for name, (p, make) in RECIPES.items()}


@pytest.mark.parametrize("recipe", RECIPES)
def test_lists_are_as_large_as_the_protocol_asks(recipe):
    phrasings = RECIPES[recipe][0]
    expected = 10 if recipe == "ESC50" else len(EVENT_CLASSES)
    assert len(phrasings["paraphrases"]) == expected
    if recipe == "Synthetic":
        assert set(phrasings["paraphrases"]) == set(EVENT_CLASSES)
    assert all(len(p) >= 3 and len(set(p)) == len(p) for p in phrasings["paraphrases"].values())
    assert len(phrasings["heldout_templates"]) >= 5
    # some held-out phrasings name the second event first
    assert any(t.index("{B}") < t.index("{A}") for t in phrasings["heldout_templates"])


def test_esc50_rich_phrasings_extend_the_default_ones():
    phrasings = RECIPES["ESC50"][0]
    assert phrasings["rich_training_templates"][:5] == phrasings["training_templates"]
    assert phrasings["many_training_templates"][:10] == phrasings["rich_training_templates"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_no_training_caption_contains_a_paraphrase(recipe):
    phrasings = RECIPES[recipe][0]
    names = [readable_label(c) for c in phrasings["paraphrases"]]
    for paraphrases in phrasings["paraphrases"].values():
        for paraphrase in paraphrases:
            hits = [c for c in TRAINING[recipe] if paraphrase.lower() in c]
            assert not hits, (paraphrase, hits[:3])
            # a paraphrase names no class
            assert not [n for n in names if re.search(rf"\b{n}\b", paraphrase.lower())]


@pytest.mark.parametrize("recipe", RECIPES)
def test_no_training_caption_uses_a_heldout_phrasing(recipe):
    phrasings = RECIPES[recipe][0]
    names = [readable_label(c) for c in phrasings["paraphrases"]]
    training = TRAINING[recipe]
    for template in phrasings["heldout_templates"]:
        captions, _ = ordered_pair_captions(names, template)
        assert not set(c.lower() for c in captions) & set(training)
        # nor the phrasing's own words around the event names
        for fragment in re.split(r"\{[AB]\}", template):
            fragment = fragment.strip(" ,").lower()
            if fragment:
                hits = [c for c in training if re.search(rf"\b{re.escape(fragment)}\b", c)]
                assert not hits, (template, fragment, hits[:3])
