"""The TTS text path: clause splitting of streamed tokens and normalisation for speech."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.tts.text import (
    ClauseSplitter,
    decimal_to_words,
    number_to_words,
    ordinal_to_words,
    speakable,
    year_to_words,
)


@pytest.mark.parametrize(("n", "words"), [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (42, "forty-two"), (100, "one hundred"),
    (101, "one hundred one"), (999, "nine hundred ninety-nine"), (1000, "one thousand"),
    (1234, "one thousand two hundred thirty-four"), (1_000_000, "one million"),
    (2_500_017, "two million five hundred thousand seventeen"), (-5, "minus five"),
    (10**12, "one trillion"),
])
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


@pytest.mark.parametrize(("n", "words"), [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
    (11, "eleventh"), (12, "twelfth"), (20, "twentieth"), (21, "twenty-first"), (22, "twenty-second"),
    (100, "one hundredth"), (103, "one hundred third"),
])
def test_ordinals(n: int, words: str) -> None:
    assert ordinal_to_words(n) == words


def test_decimals_and_years() -> None:
    assert decimal_to_words("3.14") == "three point one four"
    assert decimal_to_words("1,500") == "one thousand five hundred"
    assert year_to_words(1990) == "nineteen ninety"
    assert year_to_words(2005) == "two thousand five"
    assert year_to_words(2024) == "twenty twenty-four"
    assert year_to_words(1900) == "nineteen hundred"
    assert year_to_words(1905) == "nineteen oh five"


@pytest.mark.parametrize(("text", "spoken"), [
    ("It is 3.5 degrees.", "It is three point five degrees."),
    ("That costs $5.", "That costs five dollars."),
    ("$1", "one dollar"),
    ("$5.50", "five dollars and fifty cents"),
    ("$0.99", "zero dollars and ninety-nine cents"),
    ("$2.5 million", "two point five million dollars"),
    ("€20", "twenty euros"),
    ("£3", "three pounds"),
    ("50% off", "fifty percent off"),
    ("3.5%", "three point five percent"),
    ("at 10:30", "at ten thirty"),
    ("at 10:05", "at ten oh five"),
    ("at 10:00", "at ten o'clock"),
    ("at 7:15 pm", "at seven fifteen p m"),
    ("at 7pm", "at seven p m"),
    ("the 1st, 2nd, 3rd and 4th", "the first, second, third and fourth"),
    ("on May 22nd", "on May twenty-second"),
    ("in 1990", "in nineteen ninety"),
    ("1,234 people", "one thousand two hundred thirty-four people"),
    ("-4 degrees", "minus four degrees"),
    ("25°C", "twenty-five degrees Celsius"),
    ("5 km away", "five kilometers away"),
    ("1 km", "one kilometer"),
    ("call 0123456789", "call zero one two three four five six seven eight nine"),
    ("Dr. Smith", "Doctor Smith"),
    ("Mr. and Mrs. Jones", "Mister and Missus Jones"),
    ("fruit, e.g. apples", "fruit, for example apples"),
    ("i.e. nothing", "that is nothing"),
    ("apples, pears, etc.", "apples, pears, et cetera"),
    ("St. Louis", "Saint Louis"),
    ("Tom & Jerry", "Tom and Jerry"),
    ("Hello 😀 there 👍🏽!", "Hello there!"),
    ("Family 👨‍👩‍👧 time", "Family time"),
    ("**Bold** and *italic* and `code`", "Bold and italic and code"),
    ("# Title\nSome text", "Title, Some text"),
    ("- one\n- two\n- three", "one, two, three"),
    ("1. first\n2. second", "first, second"),
    ("See [the docs](https://example.com/docs).", "See the docs."),
    ("Go to https://www.example.com/a?b=c now", "Go to example dot com now"),
    ("> quoted", "quoted"),
    ("snake_case_name", "snake_case_name"),
    ("A | B", "A, B"),
])
def test_speakable(text: str, spoken: str) -> None:
    assert speakable(text) == spoken


def test_speakable_leaves_no_digits_or_markup() -> None:
    text = "**Note:** On 3/4 at 10:30 the 2nd item costs $3.99 (50% off) 🎉 — see https://x.io/y."
    out = speakable(text)
    assert not re.search(r"[*`#\[\]$%🎉]|https?", out)
    assert "ten thirty" in out and "three dollars and ninety-nine cents" in out and "fifty percent" in out


def split_stream(text: str, min_chars: int = 20, max_chars: int = 180) -> list[tuple[int, str]]:
    """Feed ``text`` token by token (words and spaces); return (token index at emission, clause)."""
    splitter = ClauseSplitter(min_chars=min_chars, max_chars=max_chars)
    tokens = re.findall(r"\S+|\s+", text)
    out = [(i, c) for i, tok in enumerate(tokens) for c in splitter.feed(tok)]
    return out + [(len(tokens), c) for c in splitter.flush()]


def test_clauses_come_out_as_soon_as_complete() -> None:
    out = split_stream("Sure! The temperature today is 3.5 degrees, according to Dr. Smith, "
                       "and it rises e.g. to 10 by noon. Anything else?")
    clauses = [c for _, c in out]
    assert clauses == [
        "Sure!",
        "The temperature today is three point five degrees",
        "according to Doctor Smith",
        "and it rises for example to ten by noon.",
        "Anything else?",
    ]
    # "Sure!" is out as soon as the space after it arrives: token 1, not at the end
    assert out[0][0] == 1


def test_short_clauses_are_not_cut_at_commas() -> None:
    clauses = [c for _, c in split_stream("Yes, I can, but only if you ask nicely, okay.")]
    assert clauses == ["Yes, I can, but only if you ask nicely", "okay."]


def test_numbers_and_abbreviations_are_never_cut() -> None:
    for text in ["The value is 3.5 today.", "Ask Dr. Who today.", "Use e.g. this one.", "At 10:30 sharp.",
                 "It is i.e. fine.", "J. R. R. Tolkien wrote it.", "Version 2.0.1 is out."]:
        assert len(split_stream(text)) == 1, text


def test_token_boundaries_inside_numbers() -> None:
    splitter = ClauseSplitter()
    got = []
    for tok in ["It is 3", ".", "5", " degrees.", " Next"]:
        got += splitter.feed(tok)
    assert got == ["It is three point five degrees."]
    assert splitter.flush() == ["Next"]


def test_closing_quote_and_bold_stay_with_their_clause() -> None:
    clauses = [c for _, c in split_stream('He said "stop." Then **it ended.** Fine.')]
    assert clauses == ['He said "stop."', "Then it ended.", "Fine."]


def test_newlines_end_clauses_and_markdown_only_clauses_vanish() -> None:
    clauses = [c for _, c in split_stream("Here:\n- eggs\n- milk\n\n---\n🎉\nDone")]
    assert clauses == ["Here", "eggs", "milk", "Done"]


def test_numbered_lists_are_not_cut_at_their_numbers() -> None:
    clauses = [c for _, c in split_stream("Here is how:\n1. Boil the water.\n2. Add the pasta.\n10. Eat.")]
    assert clauses == ["Here is how", "Boil the water.", "Add the pasta.", "Eat."]


def test_ellipsis_and_urls() -> None:
    clauses = [c for _, c in split_stream("Well... I think so. Visit https://example.com/x. Then relax.")]
    assert clauses == ["Well...", "I think so.", "Visit example dot com.", "Then relax."]


def test_long_text_without_punctuation_is_cut_at_a_space() -> None:
    text = " ".join(["word"] * 100)
    out = split_stream(text, max_chars=60)
    assert len(out) > 5
    assert all(len(c) <= 60 for _, c in out)
    assert " ".join(c for _, c in out) == text


def test_reset_and_unnormalized() -> None:
    s = ClauseSplitter(normalize=False)
    assert s.feed("Costs $5. More") == ["Costs $5."]
    s.reset()
    assert s.flush() == []
    assert s.pending == ""


# --- properties ---------------------------------------------------------------------------------

_TEXTISH = st.text(alphabet=st.sampled_from(list("ab Dr.e.g 3.5,;:!?\n$%10:30*#[]()🎉-_")), max_size=120)


@settings(max_examples=200, deadline=None)
@given(_TEXTISH)
def test_speakable_never_fails(text: str) -> None:
    assert isinstance(speakable(text), str)


@settings(max_examples=200, deadline=None)
@given(_TEXTISH, st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40))
def test_clauses_do_not_depend_on_how_the_tokens_are_cut(text: str, sizes: list[int]) -> None:
    whole = ClauseSplitter(normalize=False, max_chars=10**6)
    expected = whole.feed(text) + whole.flush()
    pieced = ClauseSplitter(normalize=False, max_chars=10**6)
    got: list[str] = []
    pos, i = 0, 0
    while pos < len(text):
        size = sizes[i % len(sizes)]
        got += pieced.feed(text[pos : pos + size])
        pos, i = pos + size, i + 1
    assert got + pieced.flush() == expected
