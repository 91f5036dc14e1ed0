"""The operator's knowledge: Markdown sections in SQLite FTS5, on the shipped museum file and on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.answers.knowledge import KnowledgeBase, parse_markdown, terms
from edge_agent.answers.router import demo_knowledge_file


@pytest.fixture(scope="module")
def museum() -> KnowledgeBase:
    return KnowledgeBase([demo_knowledge_file()])


def test_museum_file_has_about_twenty_sections(museum: KnowledgeBase) -> None:
    assert 20 <= len(museum.passages) <= 30 and museum.problems == []


@pytest.mark.parametrize(("question", "heading", "fact"), [
    ("What are your opening hours?", "Opening hours", "5 pm"),
    ("Where is the nearest restroom?", "Restrooms", "ground floor"),
    ("Is there free wifi?", "Wi-Fi", "Larkfield Guest"),
    ("How much does a birthday party cost?", "Birthday parties", "150 euros"),
])
def test_the_passage_answers_with_its_own_sentences(museum: KnowledgeBase, question: str, heading: str,
                                                     fact: str) -> None:
    hit = museum.search(question)[0]
    assert hit.passage.heading == heading and museum.answers(hit)
    reply = museum.reply(question, hit.passage)
    assert fact in reply
    assert all(sentence in hit.passage.body.replace("\n", " ") for sentence in reply.split(". ")[:1])


@pytest.mark.parametrize("question", ["When does the supermarket open?", "What is the stock price of Apple?",
                                      "Who wrote Moby Dick?", "What's the best restaurant in town?",
                                      "Why is the sky blue?"])
def test_questions_the_file_does_not_answer(museum: KnowledgeBase, question: str) -> None:
    hits = museum.search(question)
    assert not hits or not museum.answers(hits[0])


def test_half_the_question_found_answers_only_from_the_passage_heading(museum: KnowledgeBase) -> None:
    lost = museum.search("I lost my umbrella, what should I do?")[0]  # "lost": the Lost property heading
    sky = museum.search("Why is the sky blue?")[0]  # "blue": a jacket in the first-aid body
    assert lost.coverage == pytest.approx(0.5) and sky.coverage == pytest.approx(0.5)
    assert museum.answers(lost) and not museum.answers(sky)


def test_the_reply_picks_the_sentence_with_the_questions_rarer_word(museum: KnowledgeBase) -> None:
    question = "How much is a ticket for a child?"  # "ticket" is in most of the passage, "child" in two
    reply = museum.reply(question, museum.search(question)[0].passage)
    assert "7 euros" in reply


def test_markdown_sections_and_inline_marks() -> None:
    text = "# Title\nintro\n## First topic\nSome **bold** [link](http://x) text.\n### Deeper\nmore\n## Empty\n"
    passages = parse_markdown(text, "f.md")
    assert [(p.heading, p.body) for p in passages] == [("First topic", "Some bold link text.\n Deeper\nmore")]


def test_synonyms_and_stems_meet() -> None:
    assert terms("Where are the toilets?") == terms("restrooms")
    assert terms("opening") == terms("closes")


def test_bad_files_are_named_with_the_fix_and_the_rest_is_indexed(tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text("## Parking\nThe car park has 80 spaces.\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("## Café\nOuvert à 9 h.\n".encode("latin-1"))
    unreadable = tmp_path / "secret.md"
    unreadable.write_text("## X\ny\n", encoding="utf-8")
    unreadable.chmod(0)
    kb = KnowledgeBase([tmp_path / "missing.md", latin1, good, unreadable, tmp_path])
    problems = "\n".join(kb.problems)
    assert "missing.md does not exist (fix:" in problems
    assert "latin1.md is not UTF-8 text" in problems and "fix:" in problems
    assert len(kb.passages) >= 1 and kb.passages[0].heading == "Parking"
    assert "80 spaces" in kb.reply("how big is the car park", kb.search("car park")[0].passage)


def test_reload_picks_up_an_edited_file(tmp_path: Path) -> None:
    f = tmp_path / "k.md"
    f.write_text("## Parking\nThe car park has 80 spaces.\n", encoding="utf-8")
    kb = KnowledgeBase([f])
    f.write_text("## Parking\nThe car park has 120 spaces.\n", encoding="utf-8")
    kb.reload()
    assert "120" in kb.reply("parking", kb.search("parking")[0].passage)


@pytest.mark.parametrize(("question", "why"), [
    ("Is the car park open at night?", "says nothing of open"),  # a yes/no question's predicate
    ("Is the picnic area covered?", "says nothing of covered"),
    ("Is the audio guide available in Italian?", "names no italian"),  # one language of several
    ("What is the password for the staff room?", "says nothing of password"),  # the attribute asked for
    ("What is the email address for lost property?", "says nothing of email"),
])
def test_a_passage_that_mentions_the_subject_but_does_not_say_it(museum: KnowledgeBase, question: str,
                                                                 why: str) -> None:
    hit, reason = museum.answer(question)
    assert hit is None and why in reason


@pytest.mark.parametrize(("question", "fact"), [
    ("Are guide dogs allowed?", "assistance dogs"),  # "guide" only qualifies "dogs", which the passage has
    ("Does the museum have an elevator?", "lift"),  # the venue's own word (the file's # title)
    ("Is the audio guide available in French?", "French"),
    ("Do you have maps in large print?", "large-print maps"),  # a compound is its parts
    ("What is the name of the cafe?", "Galley Cafe"),  # a name is stated without the word
    ("What is the centrepiece of the Whaling Gallery?", "fin whale"),
])
def test_a_yes_no_question_the_passage_answers(museum: KnowledgeBase, question: str, fact: str) -> None:
    hit, why = museum.answer(question)
    assert hit is not None, why
    assert fact in museum.reply(question, hit.passage)


def test_a_reply_that_opens_with_a_pronoun_brings_the_sentence_it_points_back_to(tmp_path: Path) -> None:
    f = tmp_path / "zoo.md"
    f.write_text("## Reptile house\n\nThe reptile house is called Scales and Tails. It is next to the north gate. "
                 "Feeding is at noon.\n", encoding="utf-8")
    kb = KnowledgeBase([f])
    reply = kb.reply("What is next to the north gate?", kb.passages[0])
    assert reply == "The reptile house is called Scales and Tails. It is next to the north gate."
