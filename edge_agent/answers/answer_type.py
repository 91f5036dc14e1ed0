"""What kind of answer a question asks for, and whether a sentence holds one.

Sharing words with a question is not answering it: "How much does a coffee cost?" shares *coffee*
with the cafe passage, which gives no price; "How many ships sank in the bay?" shares *ship*,
*sank* and *bay* with the shipwreck passage, which counts nothing. A question that asks for a
price, a count, a time, a date, a measure, a weight or a person is answered only by a sentence
that states one ("Who built the lighthouse?" is not answered by a passage that names no one).
Questions of other forms (yes/no, where, what) ask for nothing this can check and are left to the
word overlap alone."""

from __future__ import annotations

import re

from edge_agent.compat import StrEnum


class Kind(StrEnum):
    PRICE = "price"
    COUNT = "count"
    TIME = "time"
    """When something happens: a time of day, a day, a month, a year, a period before or after."""
    PAST = "date"
    """When something happened: a year, a month or a date."""
    MEASURE = "measure"
    """How long (a length or a duration), how loud or strong: a number with a unit."""
    LENGTH = "length"
    """How tall, high, deep, wide or thick: a number with a unit of length (a year or "five minutes" is
    no height)."""
    DISTANCE = "distance"
    """How far: a length, or a time to get there ("two minutes on foot")."""
    DURATION = "duration"
    """How much time, how quickly, how long does it take, how far ahead: a number of seconds to years."""
    SIZE = "size"
    """How big or large: a length, an area or a count ("80 spaces"), never a duration."""
    SPEED = "speed"
    """How fast or slow: a speed (km/h, Mbps, knots) or the time something takes."""
    TEMPERATURE = "temperature"
    """How hot, cold or warm: degrees."""
    AGE = "age"
    """How old, how long ago, how long has it been: a year, or a number of years."""
    END = "end"
    """How long something is on, until when: an end ("until the end of March"), a time or a duration."""
    WEIGHT = "weight"
    PERSON = "person"
    """Who: a person, a role or a group of people (staff, a curator, members, children)."""


_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
                 r"fifty|sixty|hundred|thousand|half|a few|several|dozen")
_NUMBER = rf"(?:\d[\d,.]*|{_NUMBER_WORDS})"
_MONTHS = r"january|february|march|april|june|july|august|september|october|november|december"
"""(Not *may*: "visitors may bring their own food" states no month.)"""
_DAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_YEAR = r"\b(?:1[0-9]{3}|20[0-9]{2})\b"
_TIME_UNITS = r"seconds?|minutes?|hours?|days?|weeks?|months?|years?"
_PEOPLE = (r"staff|members?|employees?|guides?|curators?|directors?|managers?|owners?|volunteers?|team|crew|"
           r"captains?|sailors?|divers?|founders?|architects?|artists?|painters?|designers?|builders?|makers?|"
           r"authors?|writers?|children|adults?|students?|seniors?|visitors?|families|groups?|classes|people|"
           r"person|anyone|everyone|nobody|mr|mrs|ms|dr|sir|lady|king|queen")
"""Words that name a person, a role or a group of people: what a "who" question is answered with (a
file that names someone calls them by a role too: "our curator, Anna Berg")."""
_NOT_COUNTED = r"euros?|cents?|dollars?|pounds?|percent|am|pm|and|or|to|per|a|an|the|of|at|in|on|from"
"""What follows a number that counts nothing: a price ("a 1 euro coin" is no count of lockers), a clock
time, a list or a range. A count is a number next to what it counts ("80 spaces", "40 stops")."""
_LENGTH_UNITS = r"metres?|meters?|centimetres?|cm|km|kilometres?|kilometers?|feet|foot|miles?|inches|yards?"

ASKS: tuple[tuple[Kind, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    (Kind.AGE, r"^how (old\b|long ago\b|long (has|have|had)\b)"),
    (Kind.END, r"^(until|till) when\b|^how long (is|are|will|does|do)\b.*\b(on|open|running|run|showing)\b"),
    (Kind.DURATION, r"^how (much time|quick|quickly|far (ahead|in advance|before|beforehand)|"
                    r"long (do|does|did|will|would|can|could|should|must|may)\b)"),
    (Kind.LENGTH, r"^how (tall|high|deep|wide|thick)\b"),
    (Kind.DISTANCE, r"^how far\b"),
    (Kind.SIZE, r"^how (big|large)\b"),
    (Kind.SPEED, r"^how (fast|slow)\b"),
    (Kind.TEMPERATURE, r"^how (hot|cold|warm)\b"),
    (Kind.MEASURE, r"^how (long|loud|strong)\b"),
    (Kind.WEIGHT, r"\b(weigh|weighs|weight|how heavy)\b"),
    (Kind.PRICE, r"^(how much\b|how expensive\b|what('s| is| are) the (price|cost|fee|charge)s?\b|"
                 r"what do(es)? .* cost\b)"),
    (Kind.COUNT, r"^how many\b"),
    (Kind.PAST, r"^(when|what year|which year|in what year|in which year) (was|were|did|had)\b"),
    (Kind.TIME, r"^(when|what time|how late|how early|what days?|which days?|"
                r"at what time|from what time)\b"),
    (Kind.PERSON, r"^who\b"),
))
"""Question forms (lower case, without a leading "and", "so", "please") and the kind each asks for."""

STATES: dict[Kind, re.Pattern[str]] = {kind: re.compile(pattern, re.IGNORECASE) for kind, pattern in {
    Kind.PRICE: rf"{_NUMBER}\s*(?:euros?|cents?|dollars?|pounds?|percent|%)|[€$£]\s*\d|\bfree\b|\bno charge\b",
    Kind.COUNT: rf"(?<![\d,.])(?!{_YEAR})\b{_NUMBER}\s+(?!(?:{_NOT_COUNTED})\b)[a-z]|\bno\b|\bnone\b",
    Kind.TIME: rf"\b\d{{1,2}}(?::\d\d)?\s*(?:am|pm)\b|o'clock|\bnoon\b|\bmidnight\b|\b(?:{_DAYS})s?\b|"
               rf"\b(?:{_MONTHS})\b|{_YEAR}|\bevery (?:hour|day|week|morning|evening)|\bon the hour\b|"
               rf"\b{_NUMBER} (?:{_TIME_UNITS}) (?:before|after|ahead|early|late)\b|\bdaily\b|\bweekends?\b",
    Kind.PAST: rf"{_YEAR}|\b(?:{_MONTHS})\b|\bago\b",
    Kind.MEASURE: rf"\b{_NUMBER}[\s-]*(?:{_TIME_UNITS}|{_LENGTH_UNITS}|degrees?|mbps|km/h|mph|decibels?)(?!\w)|"
                  r"\b(?:ages?|aged) \d",
    Kind.LENGTH: rf"\b{_NUMBER}[\s-]*(?:{_LENGTH_UNITS})(?!\w)",
    Kind.DISTANCE: rf"\b{_NUMBER}[\s-]*(?:{_LENGTH_UNITS})(?!\w)|\b{_NUMBER}[\s-]*(?:{_TIME_UNITS})(?!\w)"
                   r"(?: \w+)? (?:on foot|walk|walking|away|drive|driving|by (?:car|bus|train|bike|bicycle|boat))\b",
    Kind.DURATION: rf"\b{_NUMBER}[\s-]*(?:{_TIME_UNITS})(?!\w)",
    Kind.SIZE: rf"\b{_NUMBER}[\s-]*(?:square |cubic )?(?:{_LENGTH_UNITS})(?!\w)",
    Kind.SPEED: rf"\b{_NUMBER}[\s-]*(?:km/h|kph|mph|mbps|gbps|knots?|(?:{_LENGTH_UNITS}) (?:per|an|a) "
                rf"(?:second|hour))(?!\w)|\b{_NUMBER}[\s-]*(?:{_TIME_UNITS})(?!\w)",
    Kind.TEMPERATURE: rf"\b{_NUMBER}[\s-]*(?:degrees?|°)",
    Kind.END: r"\b(?:until|till)\b",
    Kind.AGE: rf"{_YEAR}|\b{_NUMBER}[\s-]*(?:years?|centuries|century|decades?)\b|\b(?:ages?|aged) \d|\bsince\b",
    Kind.WEIGHT: rf"\b{_NUMBER}\s*(?:tonnes?|tons?|kilos?|kilograms?|kg|grams?|pounds?|lbs?)\b",
    Kind.PERSON: rf"\b(?:{_PEOPLE})\b|\b(?:he|she|his|her)\b",
}.items()}
"""What a sentence must state to answer each kind (case ignored)."""

_LEAD = re.compile(r"^(?:(?:and|so|ok|okay|please|excuse me|sorry|hi|hello|hey)\b[ ,]*)+")


def asked(question: str) -> Kind | None:
    """The kind of answer ``question`` asks for, or None when its form asks for nothing checkable."""
    text = _LEAD.sub("", " ".join(question.lower().replace("’", "'").split()))
    return next((kind for kind, pattern in ASKS if pattern.search(text)), None)


_UNTIL_END = re.compile(rf"\b(?:until|till) (?:the )?(?:end|middle|beginning|start) of (?:{_MONTHS})\b", re.I)
"""An end, not a time: "runs until the end of March" says when something stops, not when it opens or
starts ("When will the next exhibition open?"); it answers :attr:`Kind.END` questions."""


_DIMENSIONS = {"tall": "high", "high": "high", "deep": "deep", "wide": "wide", "broad": "wide", "thick": "thick",
               "long": "long"}
_ASKED_DIMENSION = re.compile(r"\bhow (tall|high|deep|wide|broad|thick|long)\b")
_STATED_DIMENSION = re.compile(rf"\b{_NUMBER}[\s-]*(?:{_LENGTH_UNITS})[\s-]+(tall|high|deep|wide|broad|thick|long)\b",
                               re.IGNORECASE)


_COUNTED = re.compile(r"\bhow many ((?:[a-z]+\b ?){1,2})")
_NOT_NOUNS = frozenset(["are", "is", "were", "was", "do", "does", "did", "can", "could", "will", "would", "should",
                        "have", "has", "there", "of", "in", "on", "at", "for", "to", "the", "a", "an", "you", "i",
                        "we", "they", "it"])
_COUNT_OF = re.compile(rf"(?<![\d,.])(?!{_YEAR})\b{_NUMBER}\s+((?:[a-z-]+\b\s*){{1,2}})", re.IGNORECASE)
"""A number and the word it counts, with at most one word between ("up to 12 children", "40 stops",
"80 parking spaces"): a count answers "how many X" only when what it counts is X."""


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-3] + "y" if word.endswith("ies") else word.rstrip("s")[:5]


def states(sentence: str, kind: Kind, question: str = "") -> bool:
    """True when ``sentence`` states an answer of ``kind`` (to ``question``, when given: a length that
    names its dimension must be the one asked, "18 metres long" is no height)."""
    if kind in (Kind.LENGTH, Kind.MEASURE) and question:
        asked_dim = _ASKED_DIMENSION.search(question.lower())
        stated_dims = [_DIMENSIONS[d.lower()] for d in _STATED_DIMENSION.findall(sentence)]
        if asked_dim and stated_dims and _DIMENSIONS[asked_dim.group(1)] not in stated_dims:
            sentence = _STATED_DIMENSION.sub(" ", sentence)
    if kind is Kind.END:
        return bool(STATES[Kind.END].search(sentence) or STATES[Kind.TIME].search(sentence)
                    or STATES[Kind.MEASURE].search(sentence))
    if kind is Kind.TIME:
        sentence = _UNTIL_END.sub(" ", sentence)
    if kind is Kind.COUNT and question:
        found = _COUNTED.search(question.lower())
        counted = {_stem(w) for w in found.group(1).split() if w not in _NOT_NOUNS} if found else set()
        if counted:  # "how many harpoons": a count of harpoons, not "18 metres"
            return bool(re.search(r"\bno\b|\bnone\b", sentence, re.I)) or any(
                _stem(word) in counted for words in _COUNT_OF.findall(sentence) for word in words.split())
    if kind is Kind.SIZE and STATES[Kind.COUNT].search(STATES[Kind.DURATION].sub(" ", sentence)):
        return True  # "80 spaces" is a car park's size; "two hours" is not
    return bool(STATES[kind].search(sentence))
