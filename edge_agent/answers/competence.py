"""Is this small talk, or a question of fact? The small local model may only do the first.

Small talk is recognised by its forms (greetings, thanks, goodbyes, "how are you", "who are
you", compliments, a joke, how the user feels): what needs no fact to answer. Everything else is
treated as a question of fact, which the local model must not answer: it goes to the cloud, or
gets an honest "I don't know"."""

from __future__ import annotations

import re

CHITCHAT_PATTERNS = (
    r"(hi|hello|hey|hiya|howdy|greetings|yo)( there| you| edge)?",
    r"good (morning|afternoon|evening|night|day)",
    r"(thanks|thank you|thank you (so|very) much|thanks a lot|cheers|much appreciated)( .*)?",
    r"(bye|goodbye|good bye|see you|see ya|farewell|take care|later)( .*)?",
    r"(have|you have) a (nice|great|good|lovely|wonderful) (day|evening|weekend|time)( .*)?",
    r"(how are you|how're you|how are you doing|how's it going|how is it going|how do you feel|"
    r"how are things|what's up|whats up|are you (ok|okay|well|happy))( .*)?",
    r"(who made you|how old are you|are you (a )?(robot|human|real|a person))",
    r"(nice|pleased|good) to meet you( too)?",
    r"(you're|you are|that's|that is) (so |very |really )?(awesome|great|cool|funny|helpful|smart|nice|"
    r"kind|amazing|brilliant|lovely|wonderful|the best)",
    r"(i love you|i like you|well done|good job|great job)",
    r"(tell me|do you know|say) (a joke|something funny|a funny story|something nice)",
    r"(make me laugh|entertain me|sing( me)? a song)",
    r"do you like (your job|working here|people|it here|me)",
    r"i'?m (so |very |a bit |really )?(bored|tired|happy|sad|hungry|excited|fine|good|ok|okay|great)",
    r"(ok|okay|cool|great|nice|wow|awesome|alright|sure|yes|no|yeah|nope)",
)
_CHITCHAT = re.compile(r"^(?:(?:hi|hello|hey|oh|well|ok|okay) )?(?:" + "|".join(CHITCHAT_PATTERNS) + r")$")


IDENTITY = re.compile(r"^(?:(?:hi|hello|hey|and|so|ok|okay) )?(who are you|what are you|what's your name|"
                      r"what is your name|whats your name|what should i call you|do you have a name|"
                      r"what are you called|tell me (about yourself|your name))$")
"""Questions about the agent's own name: answered from ``llm.persona``, never by the model (which
makes a name up)."""


INTERRUPTION = re.compile(r"^\s*(?:(?:ok|okay|no|oh)[,.!]?\s+)?(?:stop(?: it| that| talking)?|wait|hold on|hang on|"
                          r"sorry|never ?mind|cancel that|enough|shush|quiet)\s*[.,!;:]+\s+(?=\S)", re.IGNORECASE)
"""A stop word closed by punctuation before more words: "Stop. What time is it?" (how a barge-in
often begins). "Stop the timer" has no such break and is left whole."""


def without_interruption(text: str) -> str:
    """``text`` without a leading "stop." or "wait," that only interrupted the reply."""
    rest = INTERRUPTION.sub("", text, count=1)
    return rest if rest.strip(" .,!?;:") else text


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def is_chitchat(text: str) -> bool:
    """True for small talk; False for anything that may need a fact."""
    return bool(_CHITCHAT.match(normalise(text)))


def asks_identity(text: str) -> bool:
    return bool(IDENTITY.match(normalise(text)))
