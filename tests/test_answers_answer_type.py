"""What kind of answer a question asks for, and the competence decision that uses it: a passage
that shares words with a question but states no answer of the kind it asks for does not answer it."""

from __future__ import annotations

import pytest

from edge_agent.answers.answer_type import Kind, asked, states
from edge_agent.answers.knowledge import KnowledgeBase
from edge_agent.answers.router import demo_knowledge_file


@pytest.fixture(scope="module")
def museum() -> KnowledgeBase:
    return KnowledgeBase([demo_knowledge_file()])


@pytest.mark.parametrize(("question", "kind"), [
    ("How much does a coffee cost?", Kind.PRICE),
    ("What's the price of a map?", Kind.PRICE),
    ("How many ships are there?", Kind.COUNT),
    ("When does the shop open?", Kind.TIME),
    ("And what time do you close?", Kind.TIME),
    ("When was the lens made?", Kind.PAST),
    ("How long is the tour?", Kind.MEASURE),
    ("How much time does it take?", Kind.DURATION),
    ("How long does the walk take?", Kind.DURATION),
    ("How far ahead should we book?", Kind.DURATION),
    ("How tall is the mast?", Kind.LENGTH),
    ("How far is the beach?", Kind.DISTANCE),
    ("How large is the garden?", Kind.SIZE),
    ("How warm is the water?", Kind.TEMPERATURE),
    ("How heavy is the bell?", Kind.WEIGHT),
    ("How old is the building?", Kind.AGE),
    ("How deep is the harbour?", Kind.LENGTH),
    ("How fast is the lift?", Kind.SPEED),
    ("Who built the lighthouse?", Kind.PERSON),
    ("How long is the exhibition on for?", Kind.END),
    ("Until when is it on?", Kind.END),
    ("When will the next exhibition open?", Kind.TIME),
    ("Where is the cafe?", None),
    ("Is there a lift?", None),
])
def test_the_kind_a_question_asks_for(question: str, kind: Kind | None) -> None:
    assert asked(question) is kind


@pytest.mark.parametrize(("sentence", "kind", "holds"), [
    ("An adult ticket costs 14 euros.", Kind.PRICE, True),
    ("You can visit the shop without a ticket.", Kind.PRICE, False),
    ("It covers 40 stops.", Kind.COUNT, True),
    ("A cargo ship sank in the bay in 1894.", Kind.COUNT, False),  # a year counts nothing
    ("It closes 30 minutes before the museum does.", Kind.TIME, True),
    ("Visitors may bring their own food.", Kind.PAST, False),  # "may" is not the month
    ("It runs until the end of March.", Kind.END, True),
    ("It runs until the end of March.", Kind.MEASURE, False),  # "until" is no measure of cold
    ("It runs until the end of March.", Kind.TIME, False),  # an end is not when it opens
    ("On Thursdays it stays open late, until 8 pm.", Kind.TIME, True),
    ("Lockers take a 1 euro coin, which you get back.", Kind.COUNT, False),  # a price counts no lockers
    ("The car park has 80 spaces.", Kind.COUNT, True),
    ("Free tours start at 11 am and at 2 pm.", Kind.COUNT, False),
    ("It weighs 3 tonnes.", Kind.WEIGHT, True),
    ("It was built in 1856.", Kind.AGE, True),
    ("A cargo ship sank in the bay in 1894.", Kind.MEASURE, False),  # a year is no depth
    ("The skeleton is 18 metres long.", Kind.MEASURE, True),
    ("The skeleton is 18 metres long.", Kind.LENGTH, True),
    ("It is lit up every hour for five minutes.", Kind.LENGTH, False),  # a duration is no height
    ("It is lit up every hour for five minutes.", Kind.DURATION, True),
    ("The skeleton is 18 metres long.", Kind.DURATION, False),
    ("The stop is two minutes on foot.", Kind.DISTANCE, True),
    ("The tour lasts two hours.", Kind.DISTANCE, False),  # how long, not how far
    ("The car park has 80 spaces.", Kind.SIZE, True),
    ("The tour lasts two hours.", Kind.SIZE, False),
    ("The water is kept at 24 degrees.", Kind.TEMPERATURE, True),
    ("The water is kept at 24 metres.", Kind.TEMPERATURE, False),
    ("Any member of staff in a blue jacket can call first aid.", Kind.PERSON, True),
    ("The gift shop sells books, ship models, maps and postcards.", Kind.PERSON, False),
])
def test_what_a_sentence_states(sentence: str, kind: Kind, holds: bool) -> None:
    assert states(sentence, kind) is holds


@pytest.mark.parametrize("question", ["How much does a coffee cost?", "How many ships sank in the bay?",
                                      "How much does the whale skeleton weigh?", "Who owns the gift shop?"])
def test_a_passage_sharing_words_but_no_answer_does_not_answer(museum: KnowledgeBase, question: str) -> None:
    hit, why = museum.answer(question)
    assert hit is None and "states no" in why


@pytest.mark.parametrize(("question", "fact"), [("How much is the audio guide?", "3 euros"),
                                                ("How long do you keep lost items?", "30 days"),
                                                ("When is the lighthouse lens lit up?", "every hour"),
                                                ("Who can call first aid?", "member of staff")])
def test_the_sentence_that_states_the_answer_is_spoken(museum: KnowledgeBase, question: str, fact: str) -> None:
    hit, why = museum.answer(question)
    assert hit is not None and "states a" in why
    assert fact in museum.reply(question, hit.passage)


@pytest.mark.parametrize("question", ["Is the museum open on Christmas Day?", "Do you sell tickets for the ferry?",
                                      "What colour is the glass roof?", "How deep was the wreck of the Mary Ellen?"])
def test_a_passage_on_the_subject_that_does_not_say_what_is_asked_does_not_answer(museum: KnowledgeBase,
                                                                                   question: str) -> None:
    hit, why = museum.answer(question)
    assert hit is None and ("says anything of" in why or "states no" in why)


@pytest.mark.parametrize(("question", "fact"), [
    ("I lost my umbrella, what should I do?", "front desk"),  # the visitor's own thing: an instance
    ("Is my service dog welcome?", "assistance dogs"),
    ("How much do pensioners pay?", "10 euros"),  # the file's own word, through the thesaurus
    ("When did the Mary Ellen sink?", "1894"),  # "sank"
    ("Are there toilets upstairs?", "second floor"),
])
def test_a_visitors_own_words_still_find_the_answer(museum: KnowledgeBase, question: str, fact: str) -> None:
    hit, why = museum.answer(question)
    assert hit is not None, why
    assert fact in museum.reply(question, hit.passage)


@pytest.mark.parametrize(("word", "is_rare"), [
    ("ask", False), ("down", False), ("city", False), ("age", False), ("add", False),
    ("ferry", True), ("headphones", True), ("scrimshaw", True), ("gluten-free", True), ("prizes", True),
    ("Norway", True),  # a name, not the question's first word
])
def test_only_uncommon_words_and_names_count_as_unknown(word: str, is_rare: bool) -> None:
    from edge_agent.answers.knowledge import rare

    assert rare(word) is is_rare


def test_a_common_word_the_file_lacks_does_not_decline(museum: KnowledgeBase) -> None:
    # the file never says "city" or "go down"; the question still asks what it says
    assert museum.unknown_words("When did the Mary Ellen go down?") == []
    assert museum.unknown_words("Does the cafe have gluten-free cakes?") == ["gluten"]  # a compound is its parts


@pytest.mark.parametrize(("question", "sentence", "stated"), [
    ("How many lanterns hang in the hall?", "The hall is 30 metres long.", False),
    ("How many lanterns hang in the hall?", "Some 40 paper lanterns hang there.", True),
    ("How many parking spaces are there?", "The car park has 80 spaces.", True),
    ("How many are there?", "The car park has 80 spaces.", True),
])
def test_a_count_counts_what_the_question_counts(question: str, sentence: str, stated: bool) -> None:
    assert states(sentence, Kind.COUNT, question) is stated
