"""Is this small talk, or a question of fact? The small local model may only do the first.

Small talk is recognised by its forms: greetings, thanks, goodbyes and wishes; "how are you" and
questions about the agent's day, its feelings and its tastes ("how is your day going", "do you ever
get bored", "what's your favourite song"); compliments; how the user feels ("I'm a bit nervous");
and creative requests, a joke, a story, a poem, a riddle or a song, also asked as a question ("can you
tell me a joke?", "do you know any riddles?"). What these need is no fact. Everything else is treated
as a question of fact, which the local model must not answer: it goes to the cloud, or gets an honest
"I don't know". "Tell me about X", "the story of X" and "something interesting about X" ask for
facts and are not creative requests; a creative request about something the knowledge files are about
("a story about the whale in the gallery") is left to the router (:func:`topic`)."""

from __future__ import annotations

import re

_SOFT = r"(?:so |very |really |a bit |a little |quite |pretty |kind of |rather |a little bit |not very |not )?"
"""An adverb before a feeling or a compliment: "a bit tired", "really kind"."""
FEELINGS = ("bored|tired|happy|sad|hungry|thirsty|excited|fine|good|ok|okay|great|well|nervous|lonely|sleepy|"
            "scared|worried|glad|cheerful|grumpy|exhausted|stressed|cold|warm|alright|all right|curious|"
            "lucky|amazed|impressed")
"""How someone feels (the user, or the agent when asked "are you ..."): never "lost", "open" or "closed",
which ask for help or facts."""
_WHEN = r"(?: today| tonight| right now| now| at the moment| this (?:morning|afternoon|evening|week)| in here| here)?"
_PART_OF_DAY = r"(?:day|morning|afternoon|evening|night|week|weekend|shift|work|job|life)"
CREATIVE = (r"(?:joke|jokes|story|stories|poem|poems|riddle|riddles|song|songs|rhyme|rhymes|limerick|limericks|haiku|"
            r"tongue twister|tongue twisters|fairy tale|fairy tales|lullaby|bedtime story|bedtime stories)")
"""What a creative request asks for: made up, so it needs no fact."""
_KIND = r"(?:[a-z']+ ){0,2}"
"""Up to two words before what is asked for: "a short funny story", "a bedtime story"."""
_CREATIVE_OBJECT = (r"(?:(?:(?:a|an|another|one more|some|any|your (?:best|favourite|favorite)) )?" + _KIND + CREATIVE
                    + r"|something (?:funny|nice|cheerful|silly))(?: (?:about|on|for|with) .+)?")
_CREATIVE_ASK = (r"(?:tell|give|sing|write|make up|make|read|recite|say|compose|invent|share|do|play)"
                 r"(?: me| us| my [a-z]+| for me| for us)?")

_NOT_EXHIBITS = r"(?!(?:exhibits?|exhibitions?|rooms?|galler(?:y|ies)|displays?|objects?|pieces?|parts?|things?)\b)"
"""A favourite exhibit or room is the agent's pick among the venue's own things: the model would name
one it made up."""
CHITCHAT_PATTERNS = (
    r"(hi|hello|hey|hiya|howdy|greetings|yo)( there| you| edge| everyone| everybody| all| you all| guys| friend)?",
    r"(good )?(morning|afternoon|evening)( to you| to you all| all| everyone| everybody)?",
    r"good (night|day)( to you| to you all| all| everyone| everybody)?",
    r"(thanks|thank you|thank you (so|very) much|thanks a lot|cheers|much appreciated)( .*)?",
    r"(bye|goodbye|good bye|see you|see ya|farewell|take care|later)( .*)?",
    r"(have|you have|enjoy) (a|your) (nice|great|good|lovely|wonderful)? ?(day|evening|weekend|time|one|visit|"
    r"afternoon|morning|night)( .*)?",
    r"(how are you|how're you|how are you doing|how's it going|how is it going|how do you feel|"
    r"how are things|what's up|whats up|are you (ok|okay|well|happy))( .*)?",
    r"how (are|re) you( all| both| guys)?( doing| feeling| keeping)?" + _WHEN,
    r"how (have|'ve|ve) you been( doing| keeping)?" + _WHEN,
    r"how('s| is| has| was) (your|the) " + _PART_OF_DAY + r"( going| been| treating you)?( so far)?" + _WHEN,
    r"how('s| is) (life|everything)( going)?( with you)?" + _WHEN,
    r"are you (having|enjoying) (yourself|fun|a (nice|good|great|lovely|fun) (day|time|morning|afternoon|evening))"
    + _WHEN,
    r"are you " + _SOFT + "(" + FEELINGS + ")" + _WHEN,
    r"do you (ever )?(get|feel) " + _SOFT + "(" + FEELINGS + r")( .*)?",
    r"(nice|pleased|good|lovely|great) to (meet|see) you( too| again)?",
    r"(you're|you are|that's|that is|this is|it's|it is) " + _SOFT + r"(awesome|great|cool|funny|helpful|smart|nice|"
    r"kind|amazing|brilliant|lovely|wonderful|the best|fantastic|clever|sweet|fun)",
    r"(this|the) (place|museum|building|room) is " + _SOFT + r"(awesome|great|cool|amazing|brilliant|lovely|"
    r"wonderful|beautiful|fantastic|nice|fun|interesting)",
    r"(what a )?(lovely|nice|great|beautiful|wonderful|fantastic|amazing|cool) (place|museum|day|building)",
    r"(i love you|i like you|well done|good job|great job|you've been (a )?(great|big|real|very|really)? ?"
    r"(help|helpful))",
    r"(make me (laugh|smile)|entertain me|cheer me up)",
    r"(what('s| is| are) your|do you have a) (favourite|favorite) " + _NOT_EXHIBITS + r"[a-z ]+",
    r"what do you (like|love|enjoy)( doing| to do)?( .*)?",
    r"do you (like|love|enjoy) [a-z ]+",
    r"(i'?m|i am)( feeling)? " + _SOFT + "(" + FEELINGS + ")" + _WHEN,
    r"i feel " + _SOFT + "(" + FEELINGS + ")" + _WHEN,
    r"(i'?m|i am|we'?re|we are) (having|enjoying|spending) (a|an|my|our|the|such a) " + _SOFT
    + r"([a-z]+ )?(" + _PART_OF_DAY + r"|time|visit|trip|holiday|outing)" + _WHEN,
    r"(ok|okay|cool|great|nice|wow|awesome|alright|sure|yes|no|yeah|nope)",
)
_CHITCHAT = re.compile(r"^(?:(?:hi|hello|hey|oh|well|ok|okay)(?: there| everyone| everybody| all)? )?(?:"
                       + "|".join(CHITCHAT_PATTERNS) + r")$")

_PLEASE = r"(?:please )?"
CREATIVE_REQUEST = re.compile(
    r"^(?:(?:hi|hello|hey|oh|well|ok|okay|so|now) )?(?:"
    r"(?:(?:can|could|would|will) you |please )?" + _PLEASE + _CREATIVE_ASK + " " + _CREATIVE_OBJECT
    + r"|(?:do|would) you (?:know|have|like to (?:tell|hear|share)|want to (?:tell|hear)) " + _CREATIVE_OBJECT
    + r"|(?:i|we)(?:'d| would) (?:like|love) (?:to hear )?" + _CREATIVE_OBJECT
    + r"|(?:how about|what about) " + _CREATIVE_OBJECT
    + r"|(?:(?:have you )?got )?(?:any|a) (?:good |new |funny )?" + CREATIVE
    + r"|(?:can|do) you (?:sing|dance|rap|rhyme|tell jokes|write poems|tell stories)"
    + r"|sing(?: me| us)? (?:happy birthday|something)(?: to .+| for .+)?"
    + r")(?: for (?:me|us))?(?: please)?$")
"""A creative request: a joke, a story, a poem, a riddle or a song (with "about ..." its topic). Only
with an indefinite article or none: "the story of the Mary Ellen" asks for the file's facts."""
_TOPIC = re.compile(r"\b" + CREATIVE + r" (?:about|on) (.+)$")


IDENTITY = re.compile(r"^(?:(?:hi|hello|hey|and|so|ok|okay) )?(who are you|what are you|what's your name|"
                      r"what is your name|whats your name|what should i call you|do you have a name|"
                      r"what are you called|tell me (about yourself|your name))$")
"""Questions about the agent's own name: answered from ``llm.persona``, never by the model (which
makes a name up)."""

NATURE = re.compile(r"^(?:(?:hi|hello|hey|and|so|ok|okay|wait|tell me) )?(?:are you (?:a |an )?(?:real )?"
                    r"(?:robot|human|human being|real|person|alive|computer|machine|ai|bot|program|man|woman)|"
                    r"(?:who|what company) (?:made|built|created|programmed) you|how old are you)$")
"""Questions about what the agent is: answered plainly, never by the model (the 135M model said "I'm a
human." to "Are you a robot?")."""


INTERRUPTION = re.compile(r"^\s*(?:(?:ok|okay|no|oh)[,.!]?\s+)?(?:stop(?: it| that| talking)?|wait|hold on|hang on|"
                          r"sorry|never ?mind|cancel that|enough|shush|quiet)\s*[.,!;:]+\s+(?=\S)", re.IGNORECASE)
"""A stop word closed by punctuation before more words: "Stop. What time is it?" (how a barge-in
often begins). "Stop the timer" has no such break and is left whole."""


GREETING = re.compile(r"^\s*(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|excuse me|um+|uh+|erm)"
                      r"(?: there| everyone| everybody| all)?\s*[,.!]*\s+)+(?=\S)", re.IGNORECASE)
"""Greetings and hesitations before a request: "Hi, where is the cafe?" asks where the cafe is (the
greeting's word, unknown to the files, would count against every passage)."""


def _without_lead(lead: re.Pattern[str], text: str) -> str:
    """``text`` without what ``lead`` matches at its start, unless nothing would be left (or only a
    "please": "Stop talking, please." is one request, not a stop before another)."""
    rest = lead.sub("", text, count=1)
    left = rest.strip(" .,!?;:").lower()
    return rest if left and left not in ("please", "thanks", "thank you") else text


def without_greeting(text: str) -> str:
    """``text`` without the greetings it begins with, when a request follows them."""
    return _without_lead(GREETING, text)


def without_interruption(text: str) -> str:
    """``text`` without a leading "stop." or "wait," that only interrupted the reply."""
    return _without_lead(INTERRUPTION, text)


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def clauses(text: str) -> list[str]:
    """``text`` normalised, whole and then cut at its punctuation ("Good morning! How are you?")."""
    parts = [normalise(part) for part in re.split(r"[.!?,;:]+", text)]
    return [normalise(text), *(part for part in parts if part)]


def _small_talk(said: str) -> bool:
    return bool(_CHITCHAT.match(said) or CREATIVE_REQUEST.match(said))


def is_chitchat(text: str) -> bool:
    """True for small talk (creative requests included), said whole or as clauses that each are ("Good
    morning! How are you?"); False for anything that may need a fact ("Hi, where is the cafe?")."""
    whole, *parts = clauses(text)
    return _small_talk(whole) or (len(parts) > 1 and all(_small_talk(part) for part in parts))


def topic(text: str) -> str:
    """The topic of a creative request ("a poem about the sea": "the sea"), or "" (none named, or not a
    creative request). A liking or a favourite asks for an opinion, which states no fact."""
    for said in clauses(text):
        found = _TOPIC.search(said) if CREATIVE_REQUEST.match(said) else None
        if found:
            return found.group(1)
    return ""


def definite_subject(topic: str) -> str:
    """The words after the first "the" of a topic ("" when it has none): "a story about the whale in
    the gallery" names a particular thing, "a story about a whale" does not."""
    found = re.search(r"\bthe (.+)$", topic)
    return found.group(1) if found else ""


def asks_identity(text: str) -> bool:
    return bool(IDENTITY.match(normalise(text)))


def asks_nature(text: str) -> bool:
    """"Are you a robot?", "Who made you?": what the agent is, which only a plain answer gets right."""
    return bool(NATURE.match(normalise(text)))
