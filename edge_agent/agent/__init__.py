"""The conversation, split by responsibility: the engines it needs (:mod:`.engines`), a reply as
an object (:mod:`.reply`), the speech-out path (:mod:`.speech_out`), speculation
(:mod:`.speculation`), the state machine (:mod:`.state`), and the :class:`Conversation` that
composes them (:mod:`.conversation`)."""

from edge_agent.agent.conversation import Conversation, ConversationSettings
from edge_agent.agent.engines import (
    ExecutorSpeaker,
    ExecutorTranscriber,
    ListenerControl,
    NullListener,
    Playback,
    Speaker,
    Transcriber,
    engine_executor,
    lower_thread_priority,
)

__all__ = [
    "Conversation",
    "ConversationSettings",
    "ExecutorSpeaker",
    "ExecutorTranscriber",
    "ListenerControl",
    "NullListener",
    "Playback",
    "Speaker",
    "Transcriber",
    "engine_executor",
    "lower_thread_priority",
]
