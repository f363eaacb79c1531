"""Tests of temporal connective parsing, the rule rewriter, the validator,
the JSONL negative cache and the negative provider."""

import json
import logging

import pytest

from speechbrain_tclap.data.caption_negatives import (
    CaptionNegativeProvider,
    NegativeCache,
    NegativeCacheError,
    caption_items,
    content_words,
    has_temporal_connective,
    make_record,
    parse_temporal_caption,
    split_on_connective,
    swap_temporal_order,
    validate_negative,
)


@pytest.mark.parametrize(
    "caption, name",
    [
        ("a dog barks followed by a car passing", "followed by"),
        ("a dog barks and then a car passes", "and then"),
        ("a dog barks then a car passes", "then"),
        ("a dog barks, then a car passes", ", then"),
        ("a dog barks before a car passes", "before"),
        ("a dog barks after a car passes", "after"),
        ("a dog barks, afterwards a car passes", "afterwards"),
        ("a dog barks and subsequently a car passes", "subsequently"),
        ("a dog barks, later a car passes", "later"),
        ("a dog barks, after which a car passes", "after which"),
        ("First a dog barks, then a car passes", "first ... then"),
        ("After a dog barks, a car passes", "after ..., "),
    ],
)
def test_sequential_connectives_are_found_and_split(caption, name):
    assert has_temporal_connective(caption)
    assert has_temporal_connective(caption, sequential_only=True)
    first, connective, second = split_on_connective(caption)
    assert connective == name
    assert (first, second) == ("a dog barks", "a car passes") or (
        first.endswith("dog barks") and second.startswith("a car pass")
    )


@pytest.mark.parametrize("word", ["while", "as", "during", "whilst"])
def test_simultaneity_is_recognised_but_not_swappable(word):
    caption = f"a man speaks {word} a dog barks"
    assert has_temporal_connective(caption)
    assert not has_temporal_connective(caption, sequential_only=True)
    assert split_on_connective(caption) == ("a man speaks", word, "a dog barks")
    assert parse_temporal_caption(caption) is None
    assert swap_temporal_order(caption) is None


@pytest.mark.parametrize(
    "caption",
    [
        "rain falls on a tin roof",
        "sounds such as rain and wind",
        "a bell as loud as a siren",
        "water is trickling, and a man talks",
        "",
    ],
)
def test_captions_without_temporal_connective(caption):
    assert not has_temporal_connective(caption)
    assert split_on_connective(caption) is None
    assert swap_temporal_order(caption) is None


@pytest.mark.parametrize(
    "caption, expected",
    [
        (
            "a dog barks followed by a car passing",
            "a car passing followed by a dog barks",
        ),
        # "X after Y" means Y first; the negative "Y after X" means X first.
        ("a bell rings after a dog barks", "a dog barks after a bell rings"),
        (
            "A bell rings shortly after a dog barks.",
            "A dog barks shortly after a bell rings.",
        ),
        (
            "An engine rumbles loudly, then an air horn honks three times.",
            "An air horn honks three times, then an engine rumbles loudly.",
        ),
        (
            "males speaking and then a clock ticks twice",
            "a clock ticks twice and then males speaking",
        ),
        # three events: reversed, connectives kept in place
        (
            "a rooster clucks followed by a dog whimpers then a man talks",
            "a man talks followed by a dog whimpers then a rooster clucks",
        ),
        # simultaneous clauses move as one event
        (
            "a man talks as a kid yells followed by an aircraft flies by",
            "an aircraft flies by followed by a man talks as a kid yells",
        ),
        (
            "First a dog barks, then a cat meows.",
            "First a cat meows, then a dog barks.",
        ),
        (
            "After a loud bang, people start talking.",
            "After people start talking, a loud bang.",
        ),
        # articles follow the new order of mentions
        (
            "A dog barks and then the dog whimpers",
            "A dog whimpers and then the dog barks",
        ),
        (
            "an engine starts, then the engine stops",
            "an engine stops, then the engine starts",
        ),
        # acronyms and "I" keep their case
        ("TV noise then a man laughs", "A man laughs then TV noise"),
        ("I hear a bell, then a dog barks", "A dog barks, then I hear a bell"),
        (
            "a woman talks, later a dog barks!",
            "a dog barks, later a woman talks!",
        ),
    ],
)
def test_swap_temporal_order(caption, expected):
    swapped = swap_temporal_order(caption)
    assert swapped == expected
    assert validate_negative(caption, swapped) == (True, "ok")
    # swapping twice restores the events (articles aside)
    assert content_words(swap_temporal_order(swapped)) == content_words(caption)


@pytest.mark.parametrize(
    "caption",
    [
        "a bell rings after a dog barks then a cat meows",  # mixed directions
        "a beep then a beep",  # symmetric
        "a dog barks then",  # empty event
        "then a dog barks",
    ],
)
def test_unswappable_captions_give_none(caption):
    assert swap_temporal_order(caption) is None


def test_temporal_order_follows_connective_direction():
    assert parse_temporal_caption("x after y").temporal_order() == ["y", "x"]
    assert parse_temporal_caption("x before y").temporal_order() == ["x", "y"]
    assert parse_temporal_caption("Before x, y").temporal_order() == ["y", "x"]
    assert parse_temporal_caption("a after b then c").temporal_order() is None
    text = "First a whistle, then a dog barks and then a man laughs."
    assert parse_temporal_caption(text).text() == text


@pytest.mark.parametrize(
    "rewritten, reason",
    [
        ("a car passes then a dog barks", "ok"),
        ("A car passes, and then a dog barks.", "ok"),
        ("a car passes before a dog barks", "ok"),
        ("a dog barks after a car passes", "ok"),
        ("", "empty rewrite"),
        (None, "empty rewrite"),
        ("A dog barks then a car passes.", "identical to the original"),
        ("a dog barks before a car passes", "same event order as the original"),
        ("a car passes after a dog barks", "same event order as the original"),
        (
            "a car passes while a dog barks",
            "simultaneity rewrite ('while') states no event order",
        ),
        (
            "a car passes and a dog barks",
            "rewrite has no sequential connective (no event order)",
        ),
        (
            "a dog passes then a car barks",
            "events differ (words moved between event clauses)",
        ),
        (
            "a car passes then a cat barks",
            "content words differ (missing: ['dog']; added: ['cat'])",
        ),
        (
            "a car passes then a dog barks loudly",
            "content words differ (missing: []; added: ['loudly'])",
        ),
    ],
)
def test_validate_negative(rewritten, reason):
    ok, got = validate_negative("a dog barks then a car passes", rewritten)
    assert got == reason
    assert ok == (reason == "ok")


def test_validate_negative_rejects_originals_without_order():
    assert validate_negative(
        "a dog barks while a car passes", "a car passes while a dog barks"
    ) == (
        False,
        "original has no sequential connective (no event order)",
    )
    assert validate_negative("  ", "x")[0] is False
    assert validate_negative("a b then c d", "c d then a b\n")[0]


def test_caption_items_ids():
    rows = {
        "r1": {"captions": ["x", "y"], "caption": "x"},
        "r2": {"caption": "z"},
    }
    assert caption_items(rows) == [("r1#0", "x"), ("r1#1", "y"), ("r2#0", "z")]


def test_cache_roundtrip_duplicates_and_invalid(tmp_path):
    path = tmp_path / "neg.jsonl"
    cache = NegativeCache(path)
    cache.append(
        [
            make_record("a#0", "x then y", "y then x", "llm"),
            make_record(
                "b#0", "p then q", "p then q", "llm"
            ),  # invalid verdict
        ]
    )
    cache.append(
        [
            make_record(
                "a#0", "x then y", "x then y", "llm"
            ),  # later invalid: ignored
            make_record("c#0", "m then n", "n then m", "rule"),
            make_record(
                "c#0", "m then n", "n, then m", "llm"
            ),  # later valid: wins
        ]
    )
    assert NegativeCache.load(path) == {"a#0": "y then x", "c#0": "n, then m"}
    assert cache.ids() == {"a#0", "b#0", "c#0"}
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[1] == {
        "id": "b#0",
        "caption": "p then q",
        "negative": "p then q",
        "source": "llm",
        "valid": False,
        "reason": "identical to the original",
    }
    cache.write([make_record("d#0", "x then y", "y then x", "rule")])
    assert NegativeCache.load(path) == {"d#0": "y then x"}


def test_cache_reports_corrupted_lines_with_numbers(tmp_path, caplog):
    path = tmp_path / "neg.jsonl"
    good = json.dumps(make_record("a#0", "x then y", "y then x", "rule"))
    lines = [
        good,
        "{not json",
        "[1, 2]",
        json.dumps(
            {
                "id": "b#0",
                "caption": "x",
                "negative": "y",
                "source": "gpt",
                "valid": True,
            }
        ),
        json.dumps(
            {"id": "c#0", "caption": "x", "valid": True, "source": "llm"}
        ),
        "",
        '{"id": "d#0", "caption": "x then',  # cut short by a crash
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    records, problems = NegativeCache.read_records(path)
    assert [n for n, _ in records] == [1]
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"{path}, line {n}" for n in (2, 3, 4, 5, 7)
    ]
    assert (
        "not valid JSON" in problems[0] and "expected an object" in problems[1]
    )
    assert (
        "'source'" in problems[2] and "missing field 'negative'" in problems[3]
    )
    with caplog.at_level(logging.WARNING):
        assert NegativeCache.load(path) == {"a#0": "y then x"}
    assert "line 7" in caplog.text
    with pytest.raises(NegativeCacheError, match=r"line 2: not valid JSON"):
        NegativeCache.load(path, strict=True)
    # appending after a cut line keeps the new record on its own line
    NegativeCache(path).append(
        [make_record("e#0", "x then y", "y then x", "rule")]
    )
    assert NegativeCache.load(path) == {"a#0": "y then x", "e#0": "y then x"}
    assert NegativeCache.read_records(path)[0][-1][0] == 8


def test_make_record_rejects_unknown_source():
    with pytest.raises(ValueError, match="source"):
        make_record("a#0", "x then y", "y then x", "human")


def test_provider_cache_first_then_rules(tmp_path):
    path = tmp_path / "neg.jsonl"
    NegativeCache(path).append(
        [
            make_record(
                "a#0",
                "a dog barks then a car passes",
                "a car passes, and then a dog barks",
                "llm",
            ),
            # written for another caption of the same id: stale, ignored by id
            make_record(
                "b#0",
                "a bell rings then a cat meows",
                "a cat meows then a bell rings",
                "llm",
            ),
            # hand-edited bad record marked valid: re-validated and ignored
            make_record(
                "c#0", "x then y", "x then z", "llm", valid=True, reason="ok"
            ),
        ]
    )
    provider = CaptionNegativeProvider(path)
    assert (
        provider("a#0", "A dog barks then a car passes.")
        == "a car passes, and then a dog barks"
    )
    # found by text under another id
    assert (
        provider("zz#3", "a dog barks then a car passes")
        == "a car passes, and then a dog barks"
    )
    assert (
        provider("b#0", "a horn honks followed by rain")
        == "rain followed by a horn honks"
    )
    assert provider("c#0", "x then y") == "y then x"
    assert provider(None, "a man speaks while a dog barks") is None
    assert provider.counts == {"cache": 2, "rule": 2, "none": 1}

    no_rules = CaptionNegativeProvider(path, use_rules=False)
    assert no_rules("b#0", "a horn honks followed by rain") is None
    assert (
        no_rules("b#0", "a bell rings then a cat meows")
        == "a cat meows then a bell rings"
    )
    with pytest.raises(FileNotFoundError):
        CaptionNegativeProvider(tmp_path / "missing.jsonl")
