"""The held-out turn split: voices, noises and sentences the end-of-turn policy is never tuned on.

The tuning split (:func:`~edge_agent.speechgen.sets.pause_sentences`,
:func:`~edge_agent.speechgen.sets.complete_sentences`) is what the policy's parameters were chosen
on, so its figures flatter the policy. This split shares none of its parts:

- voices: espeak-ng voices and variants the tuning voices do not use, and the Piper voice shifted
  in pitch and tempo by sox (a different transformation from the tuning split's resampling);
- noises: brown noise, a mains/fan hum, and a cafe babble of other talkers saying other text;
- sentences: other templates, with the commands that trip a text hint: lists, numbers and
  percentages ("dim the hallway light ... to 30%"), and complete commands said with short pauses
  inside them (between list items, before a number), which must not end the turn.

The first two splits say each part of a sentence as its own clip, so the words before a pause end
with the falling pitch of a finished sentence. The third (``heldout3``) says each sentence whole and
cuts the pauses into it at the word boundaries (:mod:`edge_agent.speechgen.wordcut`), as a speaker
who stops mid-sentence sounds. The fourth (``heldout4``) is made the same way with other voices,
noises (a vacuum cleaner, a washing machine) and sentences, nine of its sixteen commands said in
parts; it was written before the inner-pause work it measures. The fifth (``heldout5``) is made the
same way again (other voices, a keyboard and a television as noises, other sentences), written before
the trained completeness decision of 2026-12-07 and the split that decision is judged on. The sixth
(``heldout6``) again (other voices, a talk-radio presenter and an air conditioner as noises, other
sentences), written before the end-of-speech and confidence work of 2026-12-07's afternoon that it
judges.

Nothing in the policy or its tuning may read this module: it only feeds ``bench listen``'s
held-out figures. Items are cached like the other sets (:func:`~edge_agent.speechgen.sets._cached`).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.wav import read_wav, write_wav
from edge_agent.errors import ModelError
from edge_agent.speechgen import wordcut
from edge_agent.speechgen.sets import _cached
from edge_agent.speechgen.synth import (
    Segment,
    Utterance,
    Voice,
    compose,
    seeded_rng,
    speak,
    speech_bounds,
    talker_bed,
)

HELDOUT_VERSION = 1
"""Part of every held-out cache key: bump when this module's generation changes."""


@dataclass(frozen=True)
class ShiftedVoice:
    """A voice whose audio sox shifts by ``cents`` of pitch and a ``tempo`` factor (both at once)."""

    base: Voice
    cents: int = 0
    tempo: float = 1.0

    @property
    def label(self) -> str:
        return f"{self.base.label}:sox{self.cents:+d}c:t{self.tempo:g}"


HeldoutVoice = Voice | ShiftedVoice

HELDOUT_VOICES: tuple[HeldoutVoice, ...] = (
    ShiftedVoice(Voice("piper"), cents=-300, tempo=0.9),
    Voice("espeak", "en-us-nyc", 155, 45),
    ShiftedVoice(Voice("piper", speed=1.1), cents=250, tempo=1.1),
    Voice("espeak", "en-gb-x-gbclan+f5", 145, 65),
    ShiftedVoice(Voice("piper", speed=0.9), cents=120, tempo=0.95),
    Voice("espeak", "en-gb-x-gbcwmd+m4", 165, 40),
    Voice("espeak", "en-us+Andy", 160, 50),
    Voice("espeak", "en-us+klatt", 150, 55),
)
"""None of these is a tuning voice: the tuning espeak voices use variants f2-f4 and m1-m3 of other
accents, and the tuning Piper voices change pitch by resampling, not sox."""

HELDOUT_PAUSE_SENTENCES = (
    ("Could you dim the hallway light to", "30% please?"),
    ("Add eggs, butter and", "a bag of flour to the list."),
    ("Set the thermostat to", "21 degrees."),
    ("Remind me at 5 pm to", "pick up the kids from school."),
    ("What is 15 percent of", "84 dollars?"),
    ("Book a table for", "four people at eight tonight."),
    ("How long will it take to get to", "the city centre by bus?"),
    ("Turn the bedroom heating up by", "two degrees please."),
    ("Tell me the score of", "last night's football match."),
    ("Open the blinds in the office", "halfway please."),
    ("Call my brother and", "tell him I'm running late."),
    ("Start a timer for 10 minutes and", "another one for 25 minutes."),
    ("Play the album by", "the band I listened to yesterday."),
    ("Is it going to be warmer than", "20 degrees on Saturday?"),
    ("Move my meeting with Sarah to", "3 o'clock on Thursday."),
    ("Convert 5 miles into", "kilometres please."),
)
"""First half, second half: a 0.7 s pause between them (the turn is NOT over at the pause)."""

HELDOUT_COMPLETE_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("Could you dim the hallway light", "to 30%?"),
    ("Add apples,", "bananas", "and oranges to my shopping list."),
    ("Set the thermostat to 21 degrees.",),
    ("What is 15 percent of 84 dollars?",),
    ("Book a table for four at eight tonight.",),
    ("Set timers for 5,", "10", "and 15 minutes."),
    ("Turn off all the lights downstairs.",),
    ("How many kilometres are in 26 miles?",),
    ("Remind me on Friday", "at 7 pm", "to water the garden."),
    ("Move my dentist appointment to next Wednesday.",),
    ("Is the pharmacy on Baker Street open now?",),
    ("Read me the news headlines.",),
    ("Lower the blinds in the living room", "to halfway."),
    ("Who won the tennis final last Sunday?",),
    ("Send a message to Tom saying I'll be ten minutes late.",),
    ("Turn the volume up", "to 60%."),
)
"""Complete commands; several are said in parts with a short pause (0.2-0.4 s) between them, as
people do in lists and before numbers: the turn must end after the last part, never inside."""

HELDOUT_NOISES = ("none", "brown", "hum", "cafe", "street", "music", "rain", "kitchen", "vacuum", "washer",
                  "typing", "tv", "radio", "aircon")
CAFE_TEXT = (
    "I told him the parcel would arrive on Wednesday at the latest.",
    "The soup of the day is tomato with a little basil.",
    "They finally opened the new swimming pool near the park.",
    "Could you keep an eye on my bag for a minute?",
    "Apparently the concert was sold out within an hour.",
)
CAFE_VOICES = (Voice("espeak", "en-us-nyc", 170, 35), Voice("espeak", "en-gb-x-gbclan+f1", 150, 70),
               Voice("espeak", "en-us+Annie", 140, 60), Voice("espeak", "en-gb-x-gbcwmd", 160, 50))

HELDOUT2_VOICES: tuple[HeldoutVoice, ...] = (
    Voice("espeak", "en-us+m6", 150, 45),
    ShiftedVoice(Voice("piper", speed=1.2), cents=-150, tempo=1.05),
    Voice("espeak", "en-gb-x-gbcwmd+steph", 140, 60),
    Voice("espeak", "en-029+linda", 145, 55),
    ShiftedVoice(Voice("piper", speed=0.85), cents=400, tempo=0.85),
    Voice("espeak", "en-us-nyc+m8", 165, 40),
    Voice("espeak", "en-gb-x-gbclan+david", 155, 50),
    Voice("espeak", "en-us+shelby", 150, 60),
)
"""The second held-out split's voices: other variants again, and other sox shifts."""
HELDOUT2_PAUSE_SENTENCES = (
    ("Please set the living room lamp to", "forty percent."),
    ("I'd like to hear", "the weather forecast for Paris."),
    ("Can you add", "butter, sugar and two lemons to my list?"),
    ("Wake me up at", "a quarter past six tomorrow."),
    ("How much is", "twelve times fourteen?"),
    ("Send a text to", "my neighbour about the parcel."),
    ("Turn down the music in", "the dining room a bit."),
    ("Find me a recipe for", "a vegetarian lasagne."),
    ("What was the result of", "the election in Canada?"),
    ("Schedule a call with", "the plumber on Tuesday morning."),
    ("Increase the fan speed to", "level three please."),
    ("Show me photos from", "our trip to Lisbon last year."),
)
HELDOUT2_COMPLETE_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("Set the living room lamp", "to 40%."),
    ("Add butter,", "sugar", "and two lemons to my list."),
    ("Wake me up at six fifteen tomorrow.",),
    ("How much is twelve times fourteen?",),
    ("Send a text to my neighbour about the parcel.",),
    ("Schedule a call with the plumber", "on Tuesday morning."),
    ("Find me a recipe for vegetarian lasagne.",),
    ("Increase the fan speed", "to level three."),
    ("Show me photos from our trip to Lisbon.",),
    ("What was the result of the election in Canada?",),
    ("Pause the music.",),
    ("Call the office", "and leave a message."),
)

HELDOUT3_VOICES: tuple[HeldoutVoice, ...] = (
    Voice("espeak", "en-gb-scotland+m7", 150, 50),
    ShiftedVoice(Voice("piper", speed=1.05), cents=-220, tempo=1.15),
    Voice("espeak", "en-us+edward", 155, 45),
    Voice("espeak", "en-029+Gene", 145, 55),
    ShiftedVoice(Voice("piper", speed=0.95), cents=330, tempo=0.92),
    Voice("espeak", "en-gb-x-rp+Michael", 160, 50),
    Voice("espeak", "en-us-nyc+paul", 150, 40),
    Voice("espeak", "en+robert", 145, 60),
)
"""The third held-out split's voices: other variants and sox shifts again."""
HELDOUT3_PAUSE_SENTENCES = (
    ("Can you switch the porch light", "off at midnight?"),
    ("I need a reminder for my", "doctor's appointment next week."),
    ("Please lower the temperature in the", "guest bedroom."),
    ("What's the quickest way to the", "train station from here?"),
    ("Put coffee, rice and", "washing powder on the list."),
    ("Could you tell me when the", "library closes tonight?"),
    ("Set the kitchen timer to", "twelve minutes."),
    ("I'd really like to listen to", "classical piano music."),
    ("How many calories are in a", "slice of banana bread?"),
    ("Remind my husband to", "collect the dry cleaning."),
    ("Turn the garden sprinklers on for", "fifteen minutes tomorrow morning."),
    ("Let me know if it's going to", "snow this weekend."),
    ("Which films are showing at the", "cinema on Friday night?"),
    ("Change the hallway light to a", "warm yellow colour."),
    ("Order another box of", "green tea for the office."),
    ("Read me the first chapter of", "Treasure Island."),
)
"""Said whole; the 0.7 s pause is cut in after the first part. The second parts begin on a word
espeak-ng gives its own word event (it joins an unstressed "the" or "a" to the word before)."""
HELDOUT3_COMPLETE_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("Set the bathroom fan", "to half speed."),
    ("Buy carrots,", "onions", "and a bag of potatoes."),
    ("Turn off the television in the lounge.",),
    ("What's the forecast for Edinburgh on Monday?",),
    ("Remind me tomorrow", "at noon", "to phone the bank."),
    ("Play my workout playlist.",),
    ("Set the oven", "to 180 degrees."),
    ("How tall is the Eiffel Tower?",),
    ("Cancel my alarm for tomorrow morning.",),
    ("Dim the dining room lights", "to 25%."),
    ("Text Maria that dinner is at seven.",),
    ("Add a dentist visit", "on the ninth of March."),
    ("Skip this song.",),
    ("Open the garage", "and switch on the driveway light."),
    ("How many ounces are in a pound?",),
    ("Lock the back door and the side gate.",),
)
"""Said whole; the 0.2-0.4 s pauses are cut in between the parts."""

HELDOUT4_VOICES: tuple[HeldoutVoice, ...] = (
    Voice("espeak", "en-gb-x-rp+travis", 150, 50),
    ShiftedVoice(Voice("piper", speed=1.0), cents=-120, tempo=1.08),
    Voice("espeak", "en-us+Mike", 155, 45),
    Voice("espeak", "en-gb-x-gbcwmd+norbert", 160, 50),
    ShiftedVoice(Voice("piper", speed=1.15), cents=200, tempo=0.97),
    Voice("espeak", "en-us-nyc+Alicia", 150, 60),
    Voice("espeak", "en-gb-scotland+Lee", 145, 50),
    Voice("espeak", "en-029+victor", 150, 45),
)
"""The fourth held-out split's voices: other variants and sox shifts again (written before the
inner-pause mechanism of 2026-12-07 was tried, and never tuned on)."""
HELDOUT4_PAUSE_SENTENCES = (
    ("Turn the radiator in the study", "down to eighteen."),
    ("I want to know how far it is to", "Manchester by car."),
    ("Make a note that the plumber is coming on", "Thursday afternoon."),
    ("Put the dishwasher on at", "eleven tonight."),
    ("Can you find out whether the", "museum is open on Sundays?"),
    ("Add toothpaste, shampoo and", "kitchen roll to the shopping list."),
    ("Switch the garden camera", "into night mode please."),
    ("What time does the next", "ferry leave for the island?"),
    ("Give me a recipe that uses", "leftover chicken and rice."),
    ("Raise the kitchen blinds to", "seventy percent."),
    ("How much would it cost to", "fly to Rome in June?"),
    ("Remind me every morning to", "take my vitamins."),
    ("Tell my daughter that", "football practice is cancelled."),
    ("Set the bedroom heater to", "nineteen degrees tonight."),
    ("Please play some", "quiet jazz in the kitchen."),
    ("Is there a bus from here to", "Oxford after ten?"),
)
"""Said whole; the 0.7 s pause is cut in after the first part (each second part begins on a word
espeak-ng gives its own word event)."""
HELDOUT4_COMPLETE_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("Set the heating", "to 22 degrees."),
    ("Turn the bedroom lights", "to 10%."),
    ("Put the kettle on.",),
    ("Buy milk,", "cheese", "and a dozen eggs."),
    ("What's the population of Norway?",),
    ("Remind me on Sunday", "at ten", "to call grandma."),
    ("Stop the music.",),
    ("Change the fan speed", "to low."),
    ("Turn on the heater in the study.",),
    ("Book a taxi", "for half past eight."),
    ("How far is the nearest petrol station?",),
    ("Add flour,", "yeast", "and olive oil to the list."),
    ("Wake me at seven.",),
    ("Set the speaker volume", "to 35%."),
    ("Close the curtains in the bedroom.",),
    ("Schedule the car service", "for next Thursday."),
)
"""Said whole; the 0.2-0.4 s pauses are cut in between the parts (9 of the 16 are said in parts:
a value after "set/turn/change ...", a list, a time and a task)."""

HELDOUT5_VOICES: tuple[HeldoutVoice, ...] = (
    Voice("espeak", "en-us+Belinda", 150, 55),
    ShiftedVoice(Voice("piper", speed=0.9), cents=-80, tempo=1.12),
    Voice("espeak", "en-gb-x-gbclan+Max", 155, 45),
    Voice("espeak", "en-gb-x-rp+Benjamin", 150, 50),
    ShiftedVoice(Voice("piper", speed=1.1), cents=280, tempo=0.9),
    Voice("espeak", "en-us-nyc+Caleb", 160, 45),
    Voice("espeak", "en-gb-scotland+Alex", 150, 50),
    Voice("espeak", "en-029+Adam", 145, 50),
)
"""The fifth held-out split's voices: other variants and sox shifts again (written before the trained
completeness decision of 2026-12-07, and never tuned on)."""
HELDOUT5_PAUSE_SENTENCES = (
    ("Could you check whether my package", "has been delivered yet?"),
    ("Lower the lounge speaker volume to", "twenty percent."),
    ("I'd like to order", "two large pizzas for delivery."),
    ("Tell me how long it takes to boil", "eggs for breakfast."),
    ("Set a reminder for", "my sister's birthday on Friday."),
    ("Turn the hallway lamp", "blue for the evening."),
    ("What's the weather going to be like in", "Dublin tomorrow?"),
    ("Add sugar, coffee filters and", "paper towels to the list."),
    ("Can you open the", "garage door for me?"),
    ("Please remind me to water", "my tomato plants tonight."),
    ("How many teaspoons are in", "three tablespoons?"),
    ("Switch off every light upstairs except", "my son's bedroom."),
    ("Text my landlord that", "rent is coming on Monday."),
    ("Put some relaxing", "ocean sounds on in the nursery."),
    ("Find out when", "Heathrow airport opens tomorrow."),
    ("Warm the living room up before", "six this evening."),
)
"""Said whole; the 0.7 s pause is cut in after the first part (each second part begins on a word
espeak-ng gives its own word event)."""
HELDOUT5_COMPLETE_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("Set the fridge", "to four degrees."),
    ("Buy apples,", "pears", "and a loaf of rye bread."),
    ("Mute the television.",),
    ("Remind me at nine", "to feed the cat."),
    ("What's the capital of Portugal?",),
    ("Turn the patio lights", "to 80%."),
    ("Order more coffee pods.",),
    ("Move the dentist call", "to Friday", "at four."),
    ("Switch on the porch fan.",),
    ("Add rice,", "lentils", "and chopped tomatoes to my basket."),
    ("How old is the Colosseum?",),
    ("Set the hot water", "for half an hour."),
    ("Unlock the front door.",),
    ("Dim the study lamp", "to 15%."),
    ("Start the robot vacuum", "in the hallway."),
    ("Call mum.",),
)
"""Said whole; the 0.2-0.4 s pauses are cut in between the parts (9 of the 16 are said in parts)."""
HELDOUT6_VOICES: tuple[HeldoutVoice, ...] = (
    Voice("espeak", "en-us+john", 150, 50),
    ShiftedVoice(Voice("piper", speed=0.92), cents=-250, tempo=1.0),
    Voice("espeak", "en-gb-x-gbcwmd+anika", 150, 60),
    Voice("espeak", "en-gb-scotland+Denis", 155, 45),
    ShiftedVoice(Voice("piper", speed=1.08), cents=160, tempo=0.94),
    Voice("espeak", "en-us-nyc+Jacky", 160, 50),
    Voice("espeak", "en-gb-x-rp+iven3", 145, 50),
    Voice("espeak", "en-029+quincy", 150, 45),
)
"""The sixth held-out split's voices: espeak-ng variants no other split (nor a noise) uses, and two
other sox shifts (written before the end-of-speech work of 2026-12-07's afternoon, never tuned on)."""
HELDOUT6_PAUSE_SENTENCES = (
    ("Could you let me know if the", "post office is open on Saturday?"),
    ("Switch the bathroom heater to", "low for an hour."),
    ("I'd like to borrow", "three books about gardening."),
    ("Please tell the front desk that", "my room key is not working."),
    ("How many teaspoons are in", "one tablespoon?"),
    ("Put the hallway radio on", "my favourite station."),
    ("Add crackers, hummus and", "sparkling water to the order."),
    ("When does the last train to", "Brighton leave tonight?"),
    ("Could you turn the attic fan", "off after midnight?"),
    ("Remind the whole family about", "Sunday's picnic in the park."),
    ("Set the garden lights to", "come on at sunset."),
    ("What's the best way to clean", "cast iron pans?"),
    ("Tell me which museums are", "free to visit this month."),
    ("Lock every window on", "both floors tonight."),
    ("Play something calm for", "twenty minutes before bed."),
    ("Message the football coach that", "Ella will miss training."),
)
"""Said whole; the 0.7 s pause is cut in after the first part (no second part begins on "the" or
"a", which espeak-ng joins to the word before)."""
HELDOUT6_COMPLETE_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("Set the guest room heater", "to 23 degrees."),
    ("Buy oats,", "honey", "and a carton of oat milk."),
    ("Close the skylight.",),
    ("Remind me at six", "to take the bins out."),
    ("Who wrote Pride and Prejudice?",),
    ("Turn the reading lamp", "to 45%."),
    ("Pause the podcast.",),
    ("Book the tennis court", "for Saturday", "at eleven."),
    ("Switch off the hallway fan.",),
    ("Add soap,", "sponges", "and bin bags to the list."),
    ("How deep is Lake Baikal?",),
    ("Run the dishwasher", "after midnight."),
    ("Open the kitchen window.",),
    ("Set the landing light", "to 5%."),
    ("Water the tomatoes", "in the greenhouse."),
    ("Ring dad.",),
)
"""Said whole; the 0.2-0.4 s pauses are cut in between the parts (9 of the 16 are said in parts)."""
RADIO_TEXT = (
    "You're listening to the afternoon show, and we've got a packed hour of music and chat ahead.",
    "Our next caller has a question about planting bulbs before the first frost.",
    "Traffic is slow on the ring road this afternoon because of roadworks near the bridge.",
    "Stay with us, after the break we'll be talking to a chef about winter soups.",
)
RADIO_VOICES = (Voice("espeak", "en-gb-x-rp+rob", 170, 50), Voice("espeak", "en-us+Marco", 165, 45))
TV_TEXT = (
    "Good evening, and welcome to the late news from our studio in the capital.",
    "Heavy snow is expected across the northern hills by the end of the week.",
    "The museum reopens next month after a long and expensive restoration.",
    "Shares in the airline fell sharply after the announcement this morning.",
)
TV_VOICES = (Voice("espeak", "en-gb+Hugo", 165, 50), Voice("espeak", "en-us+Andrea", 160, 55))


@dataclass(frozen=True)
class HeldoutSplit:
    """One held-out split: its voices, sentences and noise plan (noises by name, SNR in dB)."""

    name: str
    voices: tuple[HeldoutVoice, ...]
    pause_sentences: tuple[tuple[str, str], ...]
    complete_sentences: tuple[tuple[str, ...], ...]
    noise_plan: tuple[tuple[str, float | None], ...]
    whole: bool = False
    """Each sentence said whole, its pauses cut in (False: each part said as its own clip)."""


SPLITS = {
    "heldout": HeldoutSplit("heldout", HELDOUT_VOICES, HELDOUT_PAUSE_SENTENCES, HELDOUT_COMPLETE_SENTENCES,
                            (("none", None), ("brown", 20.0), ("cafe", 20.0), ("hum", 20.0),
                             ("none", None), ("cafe", 15.0), ("brown", 15.0), ("hum", 15.0))),
    "heldout2": HeldoutSplit("heldout2", HELDOUT2_VOICES, HELDOUT2_PAUSE_SENTENCES, HELDOUT2_COMPLETE_SENTENCES,
                             (("none", None), ("street", 20.0), ("music", 20.0), ("none", None),
                              ("street", 15.0), ("music", 15.0))),
    "heldout3": HeldoutSplit("heldout3", HELDOUT3_VOICES, HELDOUT3_PAUSE_SENTENCES, HELDOUT3_COMPLETE_SENTENCES,
                             (("none", None), ("rain", 20.0), ("kitchen", 20.0), ("none", None),
                              ("rain", 15.0), ("kitchen", 15.0)), whole=True),
    "heldout4": HeldoutSplit("heldout4", HELDOUT4_VOICES, HELDOUT4_PAUSE_SENTENCES, HELDOUT4_COMPLETE_SENTENCES,
                             (("none", None), ("vacuum", 20.0), ("washer", 20.0), ("none", None),
                              ("vacuum", 15.0), ("washer", 15.0)), whole=True),
    "heldout5": HeldoutSplit("heldout5", HELDOUT5_VOICES, HELDOUT5_PAUSE_SENTENCES, HELDOUT5_COMPLETE_SENTENCES,
                             (("none", None), ("typing", 20.0), ("tv", 20.0), ("none", None),
                              ("typing", 15.0), ("tv", 15.0)), whole=True),
    "heldout6": HeldoutSplit("heldout6", HELDOUT6_VOICES, HELDOUT6_PAUSE_SENTENCES, HELDOUT6_COMPLETE_SENTENCES,
                             (("none", None), ("radio", 20.0), ("aircon", 20.0), ("none", None),
                              ("radio", 15.0), ("aircon", 15.0)), whole=True),
}
"""``heldout`` was looked at once to decide which of the tuned mechanisms to keep (see
docs/design/end-of-turn.md); ``heldout2`` and ``heldout3`` were measured once each and then looked
at (validation splits since 2026-12-07); ``heldout4`` (written before the inner-pause work of
2026-12-07) was measured once and is a validation split since; ``heldout5`` (written before the
trained completeness decision of 2026-12-07) was measured once and is a validation split since;
``heldout6`` (written before the end-of-speech work of 2026-12-07's afternoon) is the split nothing is
decided on."""


def _sox_shift(audio: np.ndarray, cents: int, tempo: float) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="edge-agent-sox-") as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        write_wav(src, audio, SAMPLE_RATE)
        cmd = ["sox", str(src), str(dst), "pitch", str(cents), "tempo", "-s", f"{tempo:g}"]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        except FileNotFoundError:
            raise ModelError("sox is not installed (apt-get install sox)") from None
        out, _ = read_wav(dst, SAMPLE_RATE)
    return np.asarray(out, dtype=np.int16)


def say(text: str, voice: HeldoutVoice) -> np.ndarray:
    """``text`` said by a held-out voice: 16 kHz int16."""
    if isinstance(voice, ShiftedVoice):
        return _sox_shift(speak(text, voice.base), voice.cents, voice.tempo)
    return speak(text, voice)


@lru_cache(maxsize=1)
def _cafe_bed() -> np.ndarray:
    return talker_bed([say(t, CAFE_VOICES[i % len(CAFE_VOICES)]) for i, t in enumerate(CAFE_TEXT)], 4111)


@lru_cache(maxsize=1)
def _tv_speech() -> np.ndarray:
    """One newsreader at a time (two voices taking turns), with short gaps, as a television sounds."""
    gap = np.zeros(SAMPLE_RATE // 4, np.int16)
    said = [say(t, TV_VOICES[i % len(TV_VOICES)]) for i, t in enumerate(TV_TEXT)]
    return np.concatenate([x for s in said for x in (s, gap)]).astype(np.float32)


@lru_cache(maxsize=1)
def _radio_speech() -> np.ndarray:
    """A talk-radio presenter and a caller taking turns with hardly a gap, as a radio keeps talking."""
    gap = np.zeros(SAMPLE_RATE // 8, np.int16)
    said = [say(t, RADIO_VOICES[i % len(RADIO_VOICES)]) for i, t in enumerate(RADIO_TEXT)]
    return np.concatenate([x for s in said for x in (s, gap)]).astype(np.float32)


def _band(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """``x`` with everything outside ``low_hz``..``high_hz`` removed (an FFT mask)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE)
    spec[(f < low_hz) | (f > high_hz)] = 0.0
    return np.fft.irfft(spec, len(x))


def heldout_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS float32 noise of a held-out ``kind`` (one of :data:`HELDOUT_NOISES` but none)."""
    if kind == "brown":
        x = np.cumsum(rng.standard_normal(n)).astype(np.float64)
        x -= np.convolve(x, np.ones(801) / 801, mode="same")  # keep the walk from drifting off
    elif kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        base = float(rng.choice([50.0, 60.0]))
        x = 0.3 * rng.standard_normal(n)  # the fan's air
        for k in (1, 2, 3, 5):
            x += np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.28)) / k
    elif kind == "cafe":
        bed = _cafe_bed()
        x = np.resize(np.roll(bed, -int(rng.integers(0, len(bed)))), n)
    elif kind == "street":  # traffic: low rumble whose loudness swells and fades every few seconds
        w = rng.standard_normal(n)
        rumble = np.convolve(w, np.ones(40) / 40, mode="same")
        t = np.arange(n) / SAMPLE_RATE
        x = rumble * (1.0 + 0.8 * np.sin(2 * np.pi * t / float(rng.uniform(2.5, 5.0)) + rng.uniform(0, 6.28)))
    elif kind == "music":  # chords of a few tones with overtones, changing every half second
        t = np.arange(n) / SAMPLE_RATE
        x = np.zeros(n)
        step = SAMPLE_RATE // 2
        for i in range(0, n, step):
            seg = t[i:i + step]
            for f0 in rng.choice([196.0, 220.0, 247.0, 262.0, 294.0, 330.0, 349.0, 392.0], size=3, replace=False):
                x[i:i + step] += np.sin(2 * np.pi * f0 * seg) + 0.3 * np.sin(4 * np.pi * f0 * seg)
    elif kind == "rain":  # a hiss with drops: short bright clicks at random, a few dozen a second
        x = np.diff(rng.standard_normal(n + 1))  # tilted towards the highs
        drops = np.zeros(n)
        drops[rng.integers(0, n, size=max(1, n * 40 // SAMPLE_RATE))] = rng.uniform(2.0, 12.0)
        x = x + np.convolve(drops, np.exp(-np.arange(48) / 8.0), mode="same")
    elif kind == "kitchen":  # a fridge's low drone and the clink of cutlery now and then
        t = np.arange(n) / SAMPLE_RATE
        x = 0.5 * np.convolve(rng.standard_normal(n), np.ones(80) / 80, mode="same") * 8
        for at in rng.integers(0, n, size=max(1, n * 2 // SAMPLE_RATE)):
            ring = np.arange(min(n - at, SAMPLE_RATE // 4))
            f = rng.uniform(2500.0, 5000.0)
            x[at:at + len(ring)] += 6.0 * np.sin(2 * np.pi * f * ring / SAMPLE_RATE) * np.exp(-ring / 800.0)
        x += 0.2 * np.sin(2 * np.pi * 120.0 * t)
    elif kind == "vacuum":  # a motor's whine (a tone and its harmonics, wavering) over a broad rush of air
        t = np.arange(n) / SAMPLE_RATE
        f0 = float(rng.uniform(170.0, 230.0)) * (1.0 + 0.01 * np.sin(2 * np.pi * 0.7 * t))
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        x = 1.5 * rng.standard_normal(n)
        for k in (1, 2, 4, 7):
            x += np.sin(k * phase) / k
    elif kind == "washer":  # a drum's low thump every second or so over the slosh of water
        t = np.arange(n) / SAMPLE_RATE
        slosh = np.convolve(rng.standard_normal(n), np.ones(24) / 24, mode="same") * 5
        x = slosh * (1.0 + 0.6 * np.sin(2 * np.pi * t / float(rng.uniform(0.9, 1.4))))
        for at in range(int(rng.integers(0, SAMPLE_RATE)), n, int(SAMPLE_RATE * float(rng.uniform(0.9, 1.3)))):
            ring = np.arange(min(n - at, SAMPLE_RATE // 5))
            x[at:at + len(ring)] += 4.0 * np.sin(2 * np.pi * 60.0 * ring / SAMPLE_RATE) * np.exp(-ring / 900.0)
    elif kind == "typing":  # a keyboard: sharp clicks in bursts of typing, over a quiet room's hiss
        x = 0.25 * np.convolve(rng.standard_normal(n), np.ones(6) / 6, mode="same")
        at = int(rng.integers(0, SAMPLE_RATE // 3))
        while at < n:
            for _ in range(int(rng.integers(3, 12))):  # a word's worth of keys, 6-12 a second
                click = np.arange(min(n - at, 160))
                x[at:at + len(click)] += float(rng.uniform(3.0, 8.0)) * rng.standard_normal(len(click)) * np.exp(-click / 25.0)
                at += int(SAMPLE_RATE / float(rng.uniform(6.0, 12.0)))
                if at >= n:
                    break
            at += int(SAMPLE_RATE * float(rng.uniform(0.2, 0.9)))
    elif kind == "tv":  # a television in the room: a newsreader over a soft music bed, through a small speaker
        speech = _tv_speech()
        speech = speech / (np.sqrt((speech**2).mean()) + 1e-9)
        talk = np.resize(np.roll(speech, -int(rng.integers(0, len(speech)))), n)
        t = np.arange(n) / SAMPLE_RATE
        bed = np.sum([np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28)) for f in (110.0, 165.0, 220.0, 277.0)], axis=0)
        x = np.diff(np.concatenate([[0.0], talk + 0.15 * bed]))  # a thin speaker: less of the lows
    elif kind == "radio":  # a talk-radio presenter and a caller, through a kitchen radio's small band
        speech = _radio_speech()
        talk = np.resize(np.roll(speech, -int(rng.integers(0, len(speech)))), n).astype(np.float64)
        x = np.tanh(2.0 * _band(talk, 250.0, 4000.0) / (np.abs(talk).max() + 1e-9))  # squashed, as broadcast
    elif kind == "aircon":  # an air conditioner: a low rush of air, a compressor's 100 Hz hum, a fan's beat
        t = np.arange(n) / SAMPLE_RATE
        rush = np.convolve(rng.standard_normal(n), np.ones(12) / 12, mode="same") * 3
        beat = 1.0 + 0.25 * np.sin(2 * np.pi * float(rng.uniform(9.0, 14.0)) * t)
        x = rush * beat
        for k, a in ((1, 0.6), (2, 0.3), (3, 0.15)):
            x += a * np.sin(2 * np.pi * 100.0 * k * t + rng.uniform(0, 6.28))
    else:
        raise ValueError(f"unknown held-out noise {kind!r}")
    x = np.asarray(x, np.float32)
    return x / (np.sqrt((x**2).mean()) + 1e-9)


def _mix(audio: np.ndarray, kind: str, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    a = audio.astype(np.float32)
    loud = np.abs(a) > 100
    level = float(np.sqrt((a[loud] ** 2).mean())) if loud.any() else 1.0
    if snr_db is None:
        mixed = a + 3.0 * rng.standard_normal(len(a)).astype(np.float32)  # a faint floor only
    else:
        mixed = a + level * 10 ** (-snr_db / 20) * heldout_noise(kind, len(a), rng)
    return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)


SOX_MARGIN_S = 0.02
"""sox's tempo change moves a moment by up to a few tens of ms from where the factor puts it: the
cut may go this far outside the stretch between two words."""


def _cut_version(sp: HeldoutSplit) -> dict[str, int]:
    return {"cut": wordcut.VERSION} if sp.whole else {}  # the older splits' cache keys stay as they were


def said_whole(parts: tuple[str, ...], gaps_s: list[float], voice: HeldoutVoice,
               tail_s: float) -> tuple[np.ndarray, tuple[Segment, ...]]:
    """``parts`` said as one sentence by a held-out voice, ``gaps_s[k]`` of silence cut in after part
    ``k`` at the word boundary (:mod:`~edge_agent.speechgen.wordcut`), 0.5 s before, ``tail_s`` after."""
    base = voice.base if isinstance(voice, ShiftedVoice) else voice
    audio, spans = wordcut.boundaries(parts, base)
    if isinstance(voice, ShiftedVoice):  # sox's tempo stretches every time by the same factor
        shifted = _sox_shift(audio, voice.cents, voice.tempo)
        start, end = speech_bounds(shifted)
        lead = start / SAMPLE_RATE
        audio, spans = shifted[start:end], [(a / voice.tempo - lead, b / voice.tempo - lead) for a, b in spans]
    margin = wordcut.MARGIN_S if not isinstance(voice, ShiftedVoice) else SOX_MARGIN_S
    cuts = [wordcut.quietest_point(audio, span, margin) for span in spans]
    return wordcut.insert_pauses(audio, parts, cuts, gaps_s, 0.5, tail_s)


def heldout_pause_sentences(n: int = 32, pause_s: float = 0.7, tail_s: float = 2.5,
                            split: str = "heldout") -> list[Utterance]:
    """Held-out sentences with a ``pause_s`` pause in the middle; fields as in ``pause_sentences``."""
    sp = SPLITS[split]
    params = {"n": n, "pause": pause_s, "tail": tail_s, "v": HELDOUT_VERSION, **_cut_version(sp)}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng(f"{split}-pause", i)
            first, second = sp.pause_sentences[i % len(sp.pause_sentences)]
            voice = sp.voices[(i * 3) % len(sp.voices)]
            if sp.whole:
                audio, segs = said_whole((first, second), [pause_s], voice, tail_s)
            else:
                audio, segs = compose([0.5, (first, say(first, voice)), pause_s, (second, say(second, voice)), tail_s])
            kind, snr = sp.noise_plan[i % len(sp.noise_plan)]
            out.append(Utterance(_mix(audio, kind, snr, rng), f"{first} {second}", "pause", voice.label, kind,
                                 snr, None, segs, segs[-1].end_t, segs[0].end_t, f"{first} {second}"))
        return out

    return _cached(f"{split}-pause", params, make, None)


def heldout_complete_sentences(n: int = 32, tail_s: float = 2.5, split: str = "heldout") -> list[Utterance]:
    """Held-out complete commands (some in parts with 0.2-0.4 s pauses), then ``tail_s`` of silence."""
    sp = SPLITS[split]
    params = {"n": n, "tail": tail_s, "v": HELDOUT_VERSION, **_cut_version(sp)}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng(f"{split}-complete", i)
            parts = sp.complete_sentences[i % len(sp.complete_sentences)]
            voice = sp.voices[(i * 3 + 1) % len(sp.voices)]
            gaps = [float(rng.uniform(0.2, 0.4)) for _ in parts[1:]]
            if sp.whole:
                audio, segs = said_whole(parts, gaps, voice, tail_s)
            else:
                pieces: list[tuple[str, np.ndarray] | float] = [0.5]
                for k, part in enumerate(parts):
                    pieces += [gaps[k - 1]] if k else []
                    pieces.append((part, say(part, voice)))
                audio, segs = compose([*pieces, tail_s])
            kind, snr = sp.noise_plan[(i + 1) % len(sp.noise_plan)]
            text = " ".join(parts)
            out.append(Utterance(_mix(audio, kind, snr, rng), text, "complete", voice.label, kind, snr,
                                 None, segs, segs[-1].end_t, None, text))
        return out

    return _cached(f"{split}-complete", params, make, None)
