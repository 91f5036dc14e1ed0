"""A reply as an object: speculative until confirmed, what was voiced, what was heard, its end."""

from __future__ import annotations

from edge_agent.agent.reply import Reply
from edge_agent.events import Event, Transcript, TurnEnd


def voiced(reply: Reply, *clauses: tuple[str, int]) -> None:
    """Queue clauses of (text, samples)."""
    for text, samples in clauses:
        entry = reply.begin_clause(text)
        reply.add_audio(entry, samples)
        reply.end_clause(entry)


def new_reply() -> Reply:
    return Reply(3, user_text="tell me a story")


def test_a_speculative_reply_holds_its_events_until_confirmed() -> None:
    reply = new_reply()
    published: list[Event] = []
    first, second = Transcript(text="a"), Transcript(text="b")
    reply.publish(first, published.append)
    assert not reply.confirmed and published == [] and reply.held == [first]
    assert not reply.interruptible  # thrown away unheard: nothing to report
    assert reply.confirm() == [first] and reply.held == []
    reply.publish(second, published.append)
    assert reply.confirmed and published == [second] and reply.interruptible


def test_heard_text_counts_whole_clauses_and_a_share_of_the_cut_one() -> None:
    reply = new_reply()
    reply.confirm()
    reply.start(played=1000)  # the playback had played 1000 samples of something else before
    voiced(reply, ("Once upon a time,", 400), ("there was a dragon who lived in a cave.", 900))
    assert reply.heard_text(1000) == ""
    assert reply.heard_text(1000 + 400) == "Once upon a time,"
    assert reply.heard_text(1000 + 400 + 450) == "Once upon a time, there was a dragon"  # half of 9 words
    assert reply.heard_text(10**6) == "Once upon a time, there was a dragon who lived in a cave."


def test_a_clause_with_no_audio_is_not_said() -> None:
    reply = new_reply()
    reply.confirm()
    reply.start(played=0)
    voiced(reply, ("Hello.", 300), ("🎉", 0), ("Bye.", 300))
    assert reply.said == ["Hello.", "Bye."]
    assert reply.finish() == "Hello. Bye." and reply.done and not reply.interruptible


def test_interrupted_keeps_what_was_heard_and_ends_once() -> None:
    reply = new_reply()
    reply.confirm()
    reply.start(played=0)
    voiced(reply, ("One two three four.", 400))
    assert reply.interrupt(played=200) == "One two"
    assert reply.done and not reply.interruptible


def test_interrupted_before_any_audio_heard_nothing() -> None:
    reply = new_reply()
    reply.confirm()
    assert reply.interrupt(played=5000) == ""


def test_timings_for_turn_done() -> None:
    reply = new_reply()
    reply.turn_end = TurnEnd(audio_t=3.2, speech_start_t=1.5, last_speech_t=3.0)
    reply.t_turn_end, reply.t_transcript = 10.0, 10.25
    reply.stages["endpoint"] = 200.0
    reply.mark_voice_to_voice(now=10.5, audio_now=None)  # unpaced input: endpoint + processing
    v2v, stages = reply.timings()
    assert v2v == 700.0 and stages == {"endpoint": 200.0, "stt": 250.0}
    reply.mark_voice_to_voice(now=10.5, audio_now=lambda: 3.45)  # the capture clock: exact
    assert reply.timings()[0] == 450.0


def test_first_clause_time_is_taken_once() -> None:
    reply = new_reply()
    reply.mark_first_clause(1.0)  # no stream yet
    assert reply.t_first_clause is None
    reply.t_llm = 1.0
    reply.mark_first_clause(1.2)
    reply.mark_first_clause(1.9)
    assert reply.t_first_clause == 1.2 and reply.stages["llm_first_clause"] == 200.0
    assert reply.reply_to_fields() == {}
    reply.reply_to = "corr-1"
    assert reply.reply_to_fields() == {"reply_to": "corr-1"}
