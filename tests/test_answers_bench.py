"""The answers bench: its question sets and its grading."""

from __future__ import annotations

from edge_agent.answers.answer import Answer, Source
from edge_agent.answers.knowledge import parse_markdown
from edge_agent.bench.answers import GROUPS, SPLITS, grade, load_questions, synthetic_knowledge


def test_at_least_120_questions_in_four_groups_and_no_question_in_two_splits() -> None:
    splits = [load_questions(split) for split in SPLITS]
    assert sum(len(splits[0][g]) + len(splits[1][g]) for g in GROUPS) >= 120
    assert all(split[g] for split in splits for g in GROUPS)
    texts = [{q["text"] for g in GROUPS for q in split[g]} for split in splits]
    assert all(not (a & b) for i, a in enumerate(texts) for b in texts[i + 1:])


def test_grading() -> None:
    intent = Answer(source=Source.INTENT, reason="", text="Timer set.", intent="HassStartTimer", slots={"seconds": 300})
    assert grade("intents", {"intent": "HassStartTimer", "slots": {"seconds": 300}}, intent, "Timer set.", False)[0]
    assert not grade("intents", {"intent": "HassStartTimer", "slots": {"seconds": 60}}, intent, "Timer set.", False)[0]
    kn = Answer(source=Source.KNOWLEDGE, reason="")
    assert grade("knowledge", {"facts": ["5 pm"]}, kn, "We close at 5 pm.", False)[0]
    assert not grade("knowledge", {"facts": ["5 pm"]}, kn, "We close at 6 pm.", False)[0]
    chat = Answer(source=Source.CHITCHAT, reason="")
    assert grade("chitchat", {}, chat, "Hello! Nice to see you.", False)[0]
    assert not grade("chitchat", {}, chat, "It is 12 degrees.", False)[0]
    decline = Answer(source=Source.DECLINE, reason="")
    assert grade("out_of_scope", {}, decline, "I don't know that.", False)[0]
    assert not grade("out_of_scope", {}, decline, "I don't know, maybe five euros.", False)[0]
    cloud = Answer(source=Source.CLOUD, reason="")
    assert grade("out_of_scope", {}, cloud, "Canberra.", True)[0] and not grade("out_of_scope", {}, cloud, "", False)[0]


def test_synthetic_knowledge_has_200_sections() -> None:
    assert len(parse_markdown(synthetic_knowledge(), "large.md")) == 200


def test_every_expected_fact_is_in_the_museum_file() -> None:
    from edge_agent.answers.router import demo_knowledge_file
    from edge_agent.bench.answers import _norm

    assert "heldout10" in SPLITS
    museum = _norm(demo_knowledge_file().read_text(encoding="utf-8"))
    missing = [(split, f) for split in SPLITS for q in load_questions(split)["knowledge"] for f in q["facts"]
               if _norm(f) not in museum]
    assert not missing
