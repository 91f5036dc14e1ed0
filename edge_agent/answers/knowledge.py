"""The operator's knowledge: Markdown files, one ``##`` heading per topic, searched with SQLite FTS5.

Each section (heading + prose) is one passage in an in-memory FTS5 table, ranked by BM25 with the
heading weighted above the body. Words are folded to a crude stem, and a small thesaurus of
everyday kiosk words (toilet → restroom, kids → children, ...) maps synonyms onto one term, on
both the passages and the question. A passage answers only when its score reaches ``min_score``
and it covers enough of the question's words (a question about "the train station" must not be
answered with the museum's hours because both say "close"). The reply is the passage's own
sentences that share the most words with the question, so every fact, number and name in it
comes from the operator's text."""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.answers.answer_type import asked, states
from edge_agent.answers.common_words import rank as common_rank
from edge_agent.answers.meaning import Encoder

log = logging.getLogger(__name__)

HEADING_WEIGHT = 4.0
BODY_WEIGHT = 1.0
MIN_COVERAGE = 0.5
MEANING_AMONG = 8
"""The passages the meaning check compares: the best this many by the words."""
MEANING_GAP = 0.2
"""A passage found by the question's words does not answer when another passage's sentence is nearer the
question in meaning by this much (cosine similarity, :mod:`edge_agent.answers.meaning`): "Is the cloakroom
staffed?" shares *staff* with the first-aid passage, but means the cloakroom. On the tuning and validation
splits every right answer's passage was within 0.09 of the nearest; the two above 0.2 were wrong."""
"""Share of the question's content words a passage must contain (its heading or body). At exactly
this share (one word of two found, the other unknown to the files) the found word must also be in
the heading: "I lost my umbrella" is about *Lost property*; "Why is the sky blue?" is not about the
first-aid passage that mentions a blue jacket."""

STOPWORDS = frozenset(["a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "by", "can", "could", "do", "does", "did", "for", "from", "get", "got", "had", "has", "have", "here", "how", "i", "i'd", "i'm", "if", "in", "into", "is", "it", "it's", "its", "me", "my", "of", "on", "or", "our", "please", "should", "so", "tell", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "too", "us", "was", "we", "what", "what's", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", "yours", "want", "like", "know", "need", "there's", "anything", "some", "much", "many", "way", "take", "go", "goes", "going", "leave", "left", "nearest", "closest", "near", "best", "good", "something", "thing", "things", "today", "now",
                       "somewhere", "anywhere", "someone", "anyone", "bring", "come", "comes", "came", "put", "use", "used",
                       "give", "also", "just", "really", "very", "still", "maybe", "possible", "allowed", "able", "ok",
                       "okay", "gets", "getting", "he", "she", "him", "her", "his", "hers", "else", "besides", "kind",
                       "sort", "type", "find", "look", "happen", "happens", "happened", "where's", "who's", "how's",
                       "when's", "that's", "here's", "isn't", "aren't", "don't", "doesn't", "can't", "won't", "i've",
                       "we're", "we've", "you're"])
"""Words of a question's form, not its subject. "find", "kind of", "else", "happened" ask where, what or
what more: the passage's sentences say it, never these words."""

GENERIC = frozenset(["day", "days", "daily", "time", "times", "every", "all", "everyone", "everybody", "week", "weeks",
                     "weekend", "morning", "afternoon", "evening", "night", "tonight", "tomorrow", "yesterday",
                     "great", "nice", "lovely", "fine", "fun", "lot", "lots", "feel", "feeling", "bit", "little",
                     "number", "name", "names"])
"""Words of everyday talk that name no subject: left out of the search terms like the stopwords, so that
a passage that shares only these ("How is your day going?" and the tours "every day the museum is open")
is not taken for an answer. What a question is about is said by its other words ("What time do the
tours start?": tours, start). *Name* is one too: a passage states a name without the word ("the Galley
Cafe"), so "what is the name of the cafe" asks about the cafe."""

PEOPLE = frozenset(["mother", "father", "mum", "mom", "dad", "grandmother", "grandfather", "grandma", "grandpa",
                    "granny", "wife", "husband", "partner", "friend", "friends", "son", "daughter", "sister",
                    "brother", "parents", "grandparents"])
"""Whom a question is for ("can my grandmother borrow a wheelchair") says nothing about what it asks:
left out of the search terms like the stopwords (children are kept: they have tickets and rooms; and
"people" too: "how many people visit" is not about group visits)."""

LANGUAGES = ("english", "french", "german", "spanish", "italian", "dutch", "chinese", "mandarin", "cantonese",
             "japanese", "korean", "arabic", "portuguese", "russian", "polish", "ukrainian", "swedish", "danish",
             "norwegian", "finnish", "greek", "turkish", "hindi", "hebrew", "czech", "hungarian", "romanian", "irish",
             "welsh")
"""Language names: folded onto *language* for the search, and each checked against the passage
(:meth:`KnowledgeBase.unnamed_languages`)."""

SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("toilet", "toilets", "bathroom", "bathrooms", "loo", "wc", "restroom", "restrooms"), "restroom"),
    **dict.fromkeys(("kid", "kids", "child", "children", "family", "families"), "child"),
    **dict.fromkeys(("photo", "photos", "photograph", "photographs", "photography", "picture", "pictures",
                     "camera", "pics"), "photo"),
    **dict.fromkeys(("wifi", "wi-fi", "internet", "wireless"), "wifi"),
    **dict.fromkeys(("dog", "dogs", "pet", "pets", "cat", "cats", "animal", "animals"), "pet"),
    **dict.fromkeys(("coat", "coats", "jacket", "jackets", "cloakroom", "luggage", "bag", "bags",
                     "backpack", "backpacks"), "cloakroom"),
    **dict.fromkeys(("coffee", "tea", "drink", "eat", "food", "lunch", "snack", "cafe", "café",
                     "restaurant", "sandwich", "sandwiches"), "cafe"),
    **dict.fromkeys(("cost", "costs", "price", "prices", "fee", "fees", "pay", "charge", "euro", "euros",
                     "expensive", "cheap", "discount", "discounts", "free", "money", "deposit"), "cost"),
    **dict.fromkeys(("buy", "buying", "bought", "sell", "sells", "selling", "sold", "sale", "purchase"), "sell"),
    **dict.fromkeys(("suitcase", "suitcases", "rucksack", "rucksacks"), "cloakroom"),
    **dict.fromkeys(("toddler", "toddlers", "kiddie", "kiddies"), "child"),
    **dict.fromkeys(("senior", "seniors", "pensioner", "pensioners", "retired", "elderly", "oap", "oaps"), "senior"),
    **dict.fromkeys(("picnic", "picnics", "packed"), "picnic"),
    **dict.fromkeys(("adult", "adults", "grown-up", "grown-ups", "grownup", "grownups"), "adult"),
    **dict.fromkeys(("floor", "floors", "upstairs", "downstairs", "storey", "storeys", "level", "levels"), "floor"),
    **dict.fromkeys(("open", "opens", "opening", "close", "closes", "closing", "closed", "hours"), "open"),
    **dict.fromkeys(("located", "location", "address", "street", "directions"), "address"),
    **dict.fromkeys(("wheelchair", "wheelchairs", "disabled", "disability", "accessible", "accessibility",
                     "lift", "elevator"), "access"),
    **dict.fromkeys(("lost", "lose", "missing", "forgot"), "lost"),
    **dict.fromkeys(("heavy", "weigh", "weighs", "weight"), "weigh"),
    **dict.fromkeys(("long", "length", "lasts", "duration"), "long"),
    **dict.fromkeys(("built", "build", "constructed", "founded"), "built"),
    **dict.fromkeys(("car", "cars", "parking", "park", "drive"), "parking"),
    **dict.fromkeys(("tour", "tours", "guided"), "tour"),
    **dict.fromkeys(("bike", "bikes", "bicycle", "bicycles", "cycle", "cycles", "cycling"), "bicycle"),
    **dict.fromkeys(("language", "languages", *LANGUAGES), "language"),
}
"""Everyday words a visitor says → the term the passages are indexed under (both sides folded)."""

IRREGULAR: dict[str, str] = {
    "sank": "sink", "sunk": "sink", "became": "become", "kept": "keep", "drew": "draw", "drawn": "draw",
    "made": "make", "ran": "run", "gave": "give", "given": "give", "wrote": "write", "written": "write",
    "held": "hold", "began": "begin", "begun": "begin", "brought": "bring", "told": "tell", "found": "find",
    "ate": "eat", "eaten": "eat", "met": "meet", "paid": "pay", "spent": "spend", "stood": "stand", "sat": "sit",
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30",
    "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
}
"""Past forms the crude stemmer cannot fold ("when did the Mary Ellen sink?" / "it sank"), and number
words, which the files write in digits ("children under six" / "under 6"). Folded before the thesaurus."""

_WORD = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9'’-]*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_OWN = re.compile(r"\b(?:my|our|his|her|their) ((?:[a-z'-]+ )?[a-z'-]+)")
_HOW = re.compile(r"\W*(?:\w+\W+)?how (\w+)")
_YES_NO = re.compile(r"^(?!(?:can|could|would|will|do|did) you (?:tell|give|show|say|know|read)\b)"
                     r"(?:is|are|was|were|am|do|does|did|can|could|may|might|will|would|should|has|have|had)\b")
"""A yes/no question, but not an embedded one ("can you tell me where ...", "do you know when ...")."""
_ATTRIBUTE = re.compile(r"^(?:what|which)(?:'s| is| are| was| were) (?:the|your) ((?:[a-z'-]+ ){0,2}?[a-z'-]+) "
                        r"(?:of|for|in|at|on|to)\b")
"""A question for a thing's attribute ("what is the *email address* for ...", "the *password* for ..."):
the passage must name the attribute, unless it is one a passage states without naming it
(:data:`STATED_UNNAMED`)."""
STATED_UNNAMED = frozenset(["name", "names", "size", "length", "height", "width", "depth", "weight", "age", "date",
                            "year", "time", "times", "price", "prices", "cost", "number", "colour", "color"])
"""Attributes a passage states without their word: "the Galley Cafe" is the cafe's name, "18 metres long"
the whale's size."""
_ANAPHOR = re.compile(r"(?:It|Its|They|Their|This|These|He|She|His|Her)\b")
"""A sentence that opens with a pronoun names its subject in the sentence before it."""
_SUFFIXES = ("ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly")


COMMON_RANK = 1500
"""A word among the first ``COMMON_RANK`` of :mod:`~edge_agent.answers.common_words` is a common word:
a file that lacks it may still answer the question ("What *age* is it for?", "When did it go *down*?",
"Who do I *ask*?"). Chosen on the tuning split."""


def rare(word: str, first: bool = False) -> bool:
    """``word`` (as the question has it) is uncommon in English, or a name (capitalised, and not the
    question's first word): naming it asks about something in particular ("the *ferry*", "on
    *Christmas* Day", "*gluten*-free"), so a file that lacks it does not say what the question asks."""
    if not first and word[:1].isupper() and not word.isupper():
        return True
    for part in word.lower().strip("'-").split("-"):
        part = part.split("'")[0]
        if not part or part.isdigit():
            continue
        ranks = [r for r in (common_rank(part), common_rank(part[:-1]) if part.endswith("s") else None)
                 if r is not None]
        if not ranks or min(ranks) >= COMMON_RANK:
            return True
    return False


def stem(word: str) -> str:
    """A crude English stem: enough to meet "opens", "opening" and "open" on one term."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= (4 if suffix == "s" else 3):
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def terms(text: str) -> list[str]:
    """The search terms of ``text``: lower case, stopwords out, synonyms folded, stemmed."""
    out = []
    for raw in _WORD.findall(text.lower().replace("’", "'")):
        whole = raw.strip("'-")
        # a compound is its parts ("large-print maps" / "maps in large print"), unless the thesaurus
        # knows it whole ("wi-fi", "grown-up")
        for word in [whole] if whole in SYNONYMS or "-" not in whole else whole.split("-"):
            word = IRREGULAR.get(word, word)
            if not word or word in STOPWORDS or word in GENERIC or word in PEOPLE:
                continue
            word = SYNONYMS.get(word, word)
            out.append(word if word in SYNONYMS.values() else stem(word))
    return out


@dataclass(frozen=True)
class Passage:
    file: str
    heading: str
    body: str

    @property
    def label(self) -> str:
        """``museum.md#Opening hours``: which passage answered, for ``--events``."""
        return f"{self.file}#{self.heading}"

    def sentences(self) -> list[str]:
        return [s.strip() for s in _SENTENCE.split(" ".join(self.body.split())) if s.strip()]


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    """BM25 (sign flipped: higher is better)."""
    coverage: float
    """Share of the question's terms found in the passage, each weighted by its rarity in the files
    (a word no passage has weighs most: it names something the files do not know about)."""
    in_heading: bool = False
    """Some term of the question is in the passage's heading (what the passage is about)."""


def _plain(markdown: str) -> str:
    """Prose without Markdown's inline marks (emphasis, code, links keep their text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"[*_`>#]+", "", text)


def parse_markdown(text: str, file: str) -> list[Passage]:
    """One passage per ``##`` section (text before the first one, and deeper headings, go with it)."""
    passages: list[Passage] = []
    heading: str | None = None
    body: list[str] = []

    def flush() -> None:
        if heading is not None and " ".join(body).strip():
            passages.append(Passage(file=file, heading=heading, body=_plain("\n".join(body)).strip()))

    for line in text.splitlines():
        if line.startswith("## "):
            flush()
            heading, body = line[3:].strip(), []
        elif heading is not None:
            body.append(line)
    flush()
    return passages


_STOPPING = threading.Event()
_WARMING: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


@atexit.register
def _stop_warming() -> None:
    """Let a thread that is embedding passages finish its sentence before the interpreter goes (a daemon
    thread inside onnxruntime at exit aborts the process)."""
    _STOPPING.set()
    for thread in list(_WARMING):
        thread.join(timeout=5)


class KnowledgeBase:
    """The passages of the configured files in an in-memory FTS5 index. ``problems`` lists each
    file that could not be read, with the fix; the others are still indexed."""

    def __init__(self, files: Iterable[Path], min_score: float = 2.0, max_sentences: int = 2,
                 encoder: Encoder | None = None) -> None:
        self.files = [Path(f) for f in files]
        self.min_score = min_score
        self.max_sentences = max_sentences
        self.encoder = encoder
        """The meaning model (:mod:`edge_agent.answers.meaning`), for what shares no word with the files."""
        self._vectors: dict[str, np.ndarray] = {}
        """Each passage's sentences in meaning, by the text embedded (made when first needed, and by a
        low-priority thread after each load: start-up does not wait for them)."""
        self._lock = threading.Lock()
        self.passages: list[Passage] = []
        self.problems: list[str] = []
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self.reload()

    def reload(self) -> None:
        """Re-read every file and rebuild the index (``reload`` / SIGHUP)."""
        passages: list[Passage] = []
        problems: list[str] = []
        venue: set[str] = set()
        for path in self.files:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                problems.append(f"knowledge file {path} does not exist (fix: create it, or remove it from "
                                "knowledge.files)")
                continue
            except UnicodeDecodeError as exc:
                problems.append(f"knowledge file {path} is not UTF-8 text (byte {exc.start}; fix: save it as "
                                "UTF-8, e.g. `iconv -f latin1 -t utf-8`)")
                continue
            except OSError as exc:
                problems.append(f"knowledge file {path} cannot be read: {exc.strerror} (fix: check its "
                                "permissions; the agent's user must be able to read it)")
                continue
            found = parse_markdown(text, path.name)
            venue.update(t for line in text.splitlines() if line.startswith("# ") for t in terms(line[2:]))
            if not found:
                problems.append(f"knowledge file {path} has no `## heading` sections (fix: put a `## ` heading "
                                "above each topic)")
            passages.extend(found)
        for problem in problems:
            log.warning("%s", problem)
        db = self._db
        db.execute("DROP TABLE IF EXISTS passages")
        db.execute("CREATE VIRTUAL TABLE passages USING fts5(heading, body, tokenize='unicode61')")
        db.executemany("INSERT INTO passages(rowid, heading, body) VALUES (?, ?, ?)",
                       [(i, " ".join(terms(p.heading)), " ".join(terms(p.body))) for i, p in enumerate(passages)])
        self.passages = passages
        self.problems = problems
        self._terms = [set(terms(f"{p.heading} {p.body}")) for p in passages]
        self._headings = [set(terms(p.heading)) for p in passages]
        counts: dict[str, int] = {}
        for passage_terms in self._terms:
            for term in passage_terms:
                counts[term] = counts.get(term, 0) + 1
        self._idf = {t: math.log((len(passages) + 1) / c) for t, c in counts.items()}
        self._index = {p: i for i, p in enumerate(passages)}
        self._venue = venue
        self._unknown_idf = math.log(len(passages) + 1) if passages else 1.0
        if self.encoder is not None:
            warm = threading.Thread(target=self._warm, args=(passages,), name="knowledge-meaning", daemon=True)
            warm.start()
            _WARMING.add(warm)

    def knows(self, text: str) -> bool:
        """Some search term of ``text`` is in the files."""
        return any(term in self._idf for term in terms(text))

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        """The best passages for ``question``, best first (not filtered by the thresholds)."""
        words = list(dict.fromkeys(terms(question)))
        if not words or not self.passages:
            return []
        query = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
        rows = self._db.execute(
            "SELECT rowid, bm25(passages, ?, ?) FROM passages WHERE passages MATCH ? ORDER BY 2 LIMIT ?",
            (HEADING_WEIGHT, BODY_WEIGHT, query, limit)).fetchall()
        weights = {w: self._idf.get(w, self._unknown_idf) for w in words}
        total = sum(weights.values()) or 1.0
        hits = []
        for rowid, rank in rows:
            found = sum(weight for w, weight in weights.items() if w in self._terms[rowid])
            heading = self._headings[rowid]
            hits.append(Hit(passage=self.passages[rowid], score=-rank, coverage=found / total,
                            in_heading=any(w in heading for w in words)))
        return hits

    def unknown_words(self, question: str) -> list[str]:
        """The question's search terms that no passage has, but for the word of its form ("how *deep*",
        which the kind of answer checks) and the visitor's own things ("I lost *my umbrella*", "is *my
        service dog* welcome": particulars of what a passage says in general). A question on a passage's subject that names something no file
        knows ("Is the museum open on Christmas Day?", "Do you sell tickets for the ferry?") asks what the
        files do not say: the passage is about its subject, but does not answer it. Only an uncommon word
        or a name counts (:func:`rare`): a file does not have every everyday word a visitor says around a
        question it answers ("Who do I *ask* for first aid?", "When did the Mary Ellen go *down*?")."""
        text = question.lower().replace("’", "'")
        form = _HOW.match(text)
        skip = set(terms(form.group(1))) if form else set()
        for own in _OWN.findall(text):
            skip.update(terms(own))
        unknown: dict[str, None] = {}
        for raw in _WORD.findall(question.replace("’", "'")):
            for term in terms(raw):
                if term not in self._idf and term not in skip and rare(raw, first=question.lstrip().startswith(raw)):
                    unknown[term] = None
        return list(unknown)

    def unsaid(self, question: str, passage: Passage) -> list[str]:
        """What a question asks that ``passage`` does not say. For a thing's attribute ("what is the
        *password* for the staff room"), the attribute's words (:data:`_ATTRIBUTE`). For a yes/no
        question, what it asks of its subject: its terms the
        passage lacks, but for a word that only qualifies the next one, which the passage has ("*guide*
        dogs", "*large* groups"), the visitor's own things, and the venue itself (the words of a file's
        ``#`` title: *museum*). Word overlap cannot tell an answer from a mention: "Is the car park open at
        night?" shares the car park with the passage that gives its spaces and price, which says
        nothing of *open*; "Is the picnic area covered?" and "Is the scrimshaw for sale?" the same."""
        text = " ".join(question.lower().replace("’", "'").split())
        has = self._terms[self._index[passage]]
        attribute = _ATTRIBUTE.match(text)
        if attribute:
            return [w for w in _WORD.findall(attribute.group(1)) if w not in STATED_UNNAMED
                    and any(t not in has and t not in self._venue for t in terms(w))]
        if not _YES_NO.match(text):
            return []
        skip = {t for own in _OWN.findall(text) for t in terms(own)}
        raw = _WORD.findall(text)
        words = [terms(w) for w in raw]
        out: dict[str, None] = {}
        for i, found in enumerate(words):
            following = words[i + 1] if i + 1 < len(words) else []
            if following and following[0] in has:
                continue
            if any(t not in has and t not in skip and t not in self._venue for t in found):
                out[raw[i]] = None
        return list(out)

    @staticmethod
    def unnamed_languages(question: str, passage: Passage) -> list[str]:
        """The languages ``question`` names that ``passage`` does not. Language names are folded onto
        *language* for the search (so "is it in German" finds the passage that lists the languages), but
        each is one of several: a passage that lists English and French does not say "in Italian"."""
        said = {w.lower() for w in _WORD.findall(f"{passage.heading} {passage.body}")}
        return [w for w in dict.fromkeys(_WORD.findall(question.lower())) if w in LANGUAGES and w not in said]

    def answers(self, hit: Hit) -> bool:
        """The passage matches the question well enough: its score and its coverage of the question."""
        if hit.score < self.min_score or hit.coverage < MIN_COVERAGE:
            return False
        return hit.coverage > MIN_COVERAGE + 1e-9 or hit.in_heading

    def answer(self, question: str) -> tuple[Hit | None, str]:
        """The passage that answers ``question``, or None; and why, for ``--events``. The best
        passage answers when it matches the question well enough (:meth:`answers`) and, if the
        question asks for a kind of answer (a price, a count, a time...), one of its sentences states
        one. A weaker passage is never tried instead: one that states the kind of answer but ranks
        below is how a wrong answer is made ("When did the museum open?" is not answered by the
        cafe's closing time)."""
        hits = self.search(question)
        if not hits:
            return None, "no passage shares a word with it"
        best = hits[0]
        if not self.answers(best):
            return None, f"best passage {best.passage.label} scored {best.score:.2f}, covers {best.coverage:.0%}"
        kind = asked(question)
        if kind is not None and not any(states(s, kind, question) for s in best.passage.sentences()):
            return None, f"best passage {best.passage.label} matches but states no {kind}"
        unknown = self.unknown_words(question)
        if unknown:
            return None, (f"best passage {best.passage.label} is on its subject but no file says anything of "
                          f"{', '.join(unknown)}")
        missing = self.unnamed_languages(question, best.passage)
        if missing:
            return None, f"best passage {best.passage.label} names no {', '.join(missing)}"
        unsaid = self.unsaid(question, best.passage)
        if unsaid:
            return None, (f"best passage {best.passage.label} is on its subject but says nothing of "
                          f"{', '.join(unsaid)}")
        near = self.nearest(question, [h.passage for h in self.search(question, limit=MEANING_AMONG)])
        if near:
            mine = next(sim for sim, p in near if p is best.passage)
            if near[0][0] - mine >= MEANING_GAP:
                return None, (f"best passage {best.passage.label} shares its words, but {near[0][1].label} is "
                              f"nearer in meaning ({near[0][0]:.2f} > {mine:.2f})")
        return best, (f"passage scored {best.score:.2f} (>= {self.min_score}), covers {best.coverage:.0%} of the "
                      f"question" + (f" and states a {kind}" if kind else ""))

    def _sentence_vectors(self, passage: Passage) -> np.ndarray:
        assert self.encoder is not None
        key = f"{passage.heading}\n{passage.body}"
        with self._lock:
            found = self._vectors.get(key)
            if found is None:
                found = self.encoder.embed_all([f"{passage.heading}: {s}" for s in passage.sentences()])
                self._vectors[key] = found
        return found

    def _warm(self, passages: list[Passage]) -> None:
        """Embed every passage's sentences, at the lowest CPU priority (the turn's own work comes first)."""
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        for passage in passages:
            if self.passages is not passages or _STOPPING.is_set():
                return  # reloaded meanwhile, or the process is ending
            self._sentence_vectors(passage)

    def nearest(self, question: str, among: list[Passage]) -> list[tuple[float, Passage]]:
        """(similarity, passage) of ``among``, by each one's sentence nearest in meaning to ``question``,
        best first (empty without the meaning model)."""
        if self.encoder is None or not among:
            return []
        q = self.encoder.embed(question)
        scored = [(float((self._sentence_vectors(p) @ q).max(initial=-1.0)), p) for p in among]
        return sorted(scored, key=lambda x: -x[0])

    def reply(self, question: str, passage: Passage) -> str:
        """Up to ``max_sentences`` of the passage's sentences, in their order: those that share the
        most terms with the question, then the ones that follow the best (which usually go on about
        the same thing: "Free Wi-Fi is available. The network name is ...")."""
        wanted = set(terms(question))
        sentences = passage.sentences()
        sentence_terms = [set(terms(s)) for s in sentences]
        # a question word found in fewer of the passage's sentences says more about which one answers
        # ("a ticket for a child": the sentence about children, not every sentence with "ticket")
        weight = {w: math.log((len(sentences) + 1) / (1 + sum(w in t for t in sentence_terms))) + 1.0
                  for w in wanted}
        # a sentence that states what the question asks for (a price, a time...) comes first
        kind = asked(question)
        stated = [kind is not None and states(s, kind, question) for s in sentences]
        scored = [(sum(weight[w] for w in wanted & t), i) for i, t in enumerate(sentence_terms)]
        best = [i for n, i in sorted(scored, key=lambda s: (-(s[0] > 0 and stated[s[1]]), -s[0], s[1]))
                if n > 0][: self.max_sentences]
        start = best[0] if best else 0
        if start > 0 and _ANAPHOR.match(sentences[start]):
            start -= 1  # "It is in the east wing": the sentence before says what "it" is
            best = [start, *best][: self.max_sentences]
        chosen = set(best)
        for i in range(start + 1, len(sentences)):
            if len(chosen) >= self.max_sentences:
                break
            chosen.add(i)
        return " ".join(sentences[i] for i in sorted(chosen)[: self.max_sentences])
