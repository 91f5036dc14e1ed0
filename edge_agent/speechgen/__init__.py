"""Generated speech for tests, benchmarks, the demo and the wake classifier's recipe: known words at
known times, said by Piper and espeak-ng voices, in noise. :mod:`.synth` makes the sounds,
:mod:`.sets` the cached sets. Installed with the package (``edge-agent demo`` and the benchmarks
use it), never imported by the runtime's listener or engines.
"""

from edge_agent.speechgen.sets import (
    COMMANDS,
    COMPLETE_SENTENCES,
    CONFUSABLE_TEXT,
    DRAW_VOICES,
    GENERATOR_VERSION,
    HOMOPHONES,
    INNER_PAUSE_COMMANDS,
    PAUSE_SENTENCES,
    WAKE_TEXT,
    WHOLE_PAUSE_SENTENCES,
    cache_root,
    commands,
    complete_sentences,
    confusable_set,
    demo_conversation,
    inner_pause_commands,
    noise_draws,
    ordinary_sentences,
    ordinary_speech,
    pause_sentences,
    wake_set,
    whole_pause_sentences,
    write_set,
)
from edge_agent.speechgen.synth import (
    ALL_VOICES,
    ESPEAK_VOICES,
    NOISES,
    PIPER_VOICES,
    Segment,
    Utterance,
    Voice,
    compose,
    mix_noise,
    models_dir,
    noise,
    seeded_rng,
    silence,
    speak,
)

__all__ = [
    "ALL_VOICES", "COMMANDS", "COMPLETE_SENTENCES", "CONFUSABLE_TEXT", "DRAW_VOICES", "ESPEAK_VOICES",
    "GENERATOR_VERSION", "HOMOPHONES", "INNER_PAUSE_COMMANDS", "NOISES", "PAUSE_SENTENCES", "PIPER_VOICES",
    "WAKE_TEXT", "WHOLE_PAUSE_SENTENCES", "Segment", "Utterance", "Voice", "cache_root", "commands",
    "complete_sentences", "compose", "confusable_set", "demo_conversation", "inner_pause_commands", "mix_noise",
    "models_dir", "noise", "noise_draws", "ordinary_sentences", "ordinary_speech", "pause_sentences", "seeded_rng",
    "silence", "speak", "wake_set", "whole_pause_sentences", "write_set",
]
