"""The text hint as the turn policy weighs it: how complete the transcript looks, and how far the
transcript itself can be trusted.

A text-completeness hint is only as good as the transcript it was computed on. Whisper tiny.en
mishears unfamiliar voices ("What is the capital and friends?"), and a misheard transcript either
looks finished at a pause (the turn is cut) or unfinished at the end (the turn waits for the
maximum silence). The STT says how sure it was: the mean token log-probability and the no-speech
probability of the decode, and whether a later decode of the same turn kept the words an earlier
one had. :func:`transcript_confidence` maps these to a confidence in [0, 1], and
:func:`effective_hint` pulls a doubtful hint towards "no opinion" (:data:`NEUTRAL`), so that it
weighs less in both directions: it neither ends a turn by itself nor holds one open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NEUTRAL = 0.5
"""The hint of a transcript not trusted at all: neither finished nor unfinished."""
DISAGREEMENT_FACTOR = 0.5
"""Confidence is multiplied by this when a later decode changed the words an earlier one had."""
_WORD = re.compile(r"[^\w']+")


@dataclass(frozen=True)
class Hint:
    """A text-completeness hint for the turn policy."""

    p: float
    """Probability (0..1) that the transcript so far is a complete utterance."""
    confidence: float = 1.0
    """How far the transcript can be trusted (0: a guess, 1: as good as the STT gets)."""
    p_end: float | None = None
    """The language model's own probability that the transcript ends here (before it became ``p``)."""
    avg_logprob: float | None = None
    """The STT decode's mean token log-probability (None: the engine gives none)."""
    no_speech_prob: float | None = None
    """The STT decode's no-speech probability (None: the engine gives none)."""
    text: str | None = None
    """The transcript the hint was computed on."""


def effective_hint(hint: Hint, both_ways: bool = True) -> float:
    """The hint pulled towards :data:`NEUTRAL` as far as the transcript is doubtful; with
    ``both_ways`` False only a hint above :data:`NEUTRAL` (the text looks finished) is."""
    if not both_ways and hint.p <= NEUTRAL:
        return hint.p
    c = min(1.0, max(0.0, hint.confidence))
    return NEUTRAL + c * (hint.p - NEUTRAL)


def words(text: str) -> list[str]:
    """Lower-case words of ``text``, punctuation dropped."""
    return [w for w in _WORD.split(text.lower()) if w]


def agrees(earlier: str, later: str) -> bool:
    """True when the later transcript of a turn starts with the earlier one's words (the STT kept
    what it heard before the pause); an earlier transcript with no words agrees with anything."""
    a, b = words(earlier), words(later)
    return b[: len(a)] == a


def transcript_confidence(avg_logprob: float | None, no_speech_prob: float | None, *,
                          doubt_logprob: float, sure_logprob: float, earlier: str | None = None,
                          text: str = "") -> float:
    """Confidence in [0, 1] of a transcript from its decode's scores.

    0 at or below ``doubt_logprob`` (mean token log-probability), 1 at or above ``sure_logprob``,
    linear between; times ``1 - no_speech_prob``; times :data:`DISAGREEMENT_FACTOR` when ``earlier``
    (the previous speculative transcript of the same turn) is not a prefix of ``text``. Missing
    scores (an engine without them) count as sure: the hint then weighs as it always did."""
    c = 1.0
    if avg_logprob is not None and sure_logprob > doubt_logprob:
        c = min(1.0, max(0.0, (avg_logprob - doubt_logprob) / (sure_logprob - doubt_logprob)))
    if no_speech_prob is not None:
        c *= 1.0 - min(1.0, max(0.0, no_speech_prob))
    if earlier is not None and not agrees(earlier, text):
        c *= DISAGREEMENT_FACTOR
    return c


@dataclass(frozen=True)
class HintTrust:
    """How a transcript's scores become its hint's confidence (the ``turn.hint_*`` settings)."""

    enabled: bool = True
    """False: every hint counts as sure (the hint as it was before confidence was used)."""
    doubt_logprob: float = -1.2
    sure_logprob: float = -0.2

    def confidence(self, avg_logprob: float | None, no_speech_prob: float | None, text: str,
                   earlier: str | None = None) -> float:
        """:func:`transcript_confidence` with these bounds (1.0 when not enabled)."""
        if not self.enabled:
            return 1.0
        return transcript_confidence(avg_logprob, no_speech_prob, doubt_logprob=self.doubt_logprob,
                                     sure_logprob=self.sure_logprob, earlier=earlier, text=text)


# --- a text signal for the semantic hook ------------------------------------------------------------

# Words an English utterance almost never ends on: articles, prepositions, conjunctions, auxiliaries
# and modals, infinitive "to", possessive and subject pronouns. A general linguistic fact, not a model.
_ENDING_WORDS = (
    "a an the this that these those my your his her its our their some any every each no",
    "to of in on at for from with about into onto over under after before between through during without",
    "and or but so because if when while than as until unless whether nor",
    "is are was were be been being am do does did have has had will would shall should can could may might must",
    "i you he she we they it's i'm you're we're they're there's what's",
    "very really just also not",
)
INCOMPLETE_ENDINGS = frozenset(" ".join(_ENDING_WORDS).split())


def text_completeness(text: str) -> float | None:
    """A crude semantic hint from a (partial) transcript: 0.0 when it ends on a word an utterance
    almost never ends on ("...remind me to"), 1.0 otherwise; None for no words. Good enough to
    show what a text signal adds; the conversation core may pass a better one. (Here, not in ``policy``, so the
    trained decision in ``completeness`` can use it without an import cycle.)"""
    words = [w.strip(".,!?;:\"'()-").lower() for w in text.split()]
    words = [w for w in words if w]
    if not words or text.rstrip().endswith(("...", "…", "-")):
        return None if not words else 0.0
    return 0.0 if words[-1] in INCOMPLETE_ENDINGS else 1.0
