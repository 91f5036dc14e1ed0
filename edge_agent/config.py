"""One settings model for the whole agent, loaded with pydantic-settings.

Sources, later wins:
  1. the defaults below;
  2. a TOML file: ``--config FILE``, else ``$EDGE_AGENT_CONFIG``, else ``/etc/edge-agent/config.toml`` if it exists;
  3. environment variables ``EDGE_AGENT_<SECTION>__<KEY>`` (e.g. ``EDGE_AGENT_MQTT__HOST``);
  4. secrets from files in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``), one file per
     setting, named ``<section>__<key>`` or ``<section>.<key>`` (e.g. ``mqtt__password``).

Unknown keys are errors everywhere: a typo must not be silently ignored.
"""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from edge_agent.compat import StrEnum, tomllib
from edge_agent.errors import ConfigError

SYSTEM_CONFIG = Path("/etc/edge-agent/config.toml")
ENV_PREFIX = "EDGE_AGENT_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def default_models_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "edge-agent" / "models"


# --- sections -----------------------------------------------------------------------------------


class AudioConfig(Section):
    input_device: str | int | None = None
    """Microphone: PortAudio device name (substring match) or index; None = the system default."""
    output_device: str | int | None = None
    """Speaker: PortAudio device name (substring match) or index; None = the system default."""
    sample_rate: int = Field(16000, ge=8000, le=192000)
    """The input sample rate the pipeline works at (wake word, VAD, turn model and STT want 16000)."""
    device_sample_rate: int | None = Field(None, ge=8000, le=192000)
    """Rate to open the microphone at, when the device cannot do ``sample_rate``; resampled in software."""
    output_sample_rate: int | None = Field(None, ge=8000, le=192000)
    """Rate to open the speaker at; None = the voice's own rate (22050 for the default voice)."""
    frame_ms: int = Field(10, ge=5, le=100)
    """Samples per PortAudio callback, in milliseconds."""
    ring_seconds: float = Field(30.0, ge=1.0, le=600.0)
    """Capacity of the microphone ring buffer (look-back for pre-roll and the turn model)."""
    volume: float = Field(1.0, ge=0.0, le=2.0)
    reconnect_max_s: float = Field(30.0, gt=0)
    """Longest backoff between attempts to reopen a device that disappeared (e.g. unplugged USB)."""
    echo_cancellation: bool = True
    """Cancel the agent's own voice in what the microphone hears (WebRTC AEC3: the ``webrtc-aec3`` build,
    else ``pywebrtc-audio``'s), before the wake word, VAD and STT: full duplex, barge-in over the reply.
    Off: the VAD's playback threshold alone guards barge-in. If no library loads, half duplex."""
    echo_filter_ms: int = Field(160, ge=52, le=400)
    """The ``webrtc-aec3`` canceller's linear echo filter, in ms (rounded to 4 ms blocks). 160 covers more
    of a room's response (the wake word and STT hear the user better over a reply); 52 is AEC3's own.
    Clock drift between a separate microphone and speaker is corrected before the canceller
    (``audio.drift``), so it needs no shorter filter (docs/design/echo-cancellation.md)."""
    echo_noise_suppression: bool = False
    """WebRTC noise suppression on the cleaned signal (off: the duplex bench showed no gain)."""
    echo_gain_control: bool = False
    """WebRTC automatic gain control on the cleaned signal."""
    echo_barge_in_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    """With echo cancellation working: the VAD threshold for barge-in while the agent speaks (on the
    cleaned signal, behind the residual-echo guard). ``vad.playback_threshold`` applies without AEC."""
    echo_barge_in_ms: int = Field(96, ge=0)
    """With echo cancellation working: speech this long over the reply is a barge-in (``vad.barge_in_ms``
    applies without AEC)."""
    chime: str = "off"
    """A sound when the agent starts listening after the wake word: ``off``, ``tone`` (built in) or the
    path of a WAV file. Played through the speaker path, so echo cancellation removes it."""

    @field_validator("chime")
    @classmethod
    def _chime_is_known(cls, value: str) -> str:
        if value not in ("off", "tone") and not Path(value).expanduser().is_file():
            raise ValueError(f"'off', 'tone' or the path of a WAV file; {value!r} is no file")
        return value


class WakeEngine(StrEnum):
    MICRO = "micro"
    OPEN = "open"
    PORCUPINE = "porcupine"


class WakeConfig(Section):
    enabled: bool = True
    engine: WakeEngine = WakeEngine.MICRO
    keywords: list[str] = Field(default_factory=lambda: ["okay_nabu"])
    """Built-in keyword names, or paths to custom model files (.tflite + .json, or .ppn)."""
    threshold: float | None = Field(None, gt=0.0, lt=1.0)
    """Probability (window mean) at or above which the first stage fires; None = the engine's own
    default (microWakeWord: the model's ``probability_cutoff``; openWakeWord: 0.5)."""
    window: int | None = Field(None, ge=1, le=100)
    """Sliding window (in detector steps) the probability is averaged over; None = the engine's
    default (microWakeWord: the model's ``sliding_window_size``, 30 ms steps; openWakeWord: 1, 80 ms steps)."""
    refractory_s: float = Field(2.0, ge=0.0)
    """After a detection, ignore further ones for this long (audio time)."""
    verify: Literal["none", "stt", "engine"] = "stt"
    """Second stage on each first-stage detection: ``stt`` transcribes the buffered wake audio with
    Whisper tiny.en (the keyword as its prompt) and needs the keyword's spelling; ``engine`` asks the other
    local engine. Not used with Porcupine. ``stt`` lets the first stage run at a far lower threshold, so
    unusual voices are heard, while the check keeps false accepts out (docs/design/wake-word.md)."""
    verify_threshold: float | None = Field(None, gt=0.0, lt=1.0)
    """First-stage threshold used when ``verify`` is on (lower, so the second stage sees more); None = default."""
    classifier_threshold: float = Field(0.5, ge=0.0, lt=1.0)
    """With ``verify = stt``: the trained keyword classifier (built-in ``okay_nabu``) must score the
    keyword's audio at least this; it rejects near misses Whisper spells as the keyword ("okay,
    bamboo"). 0 = the spelling alone decides (docs/design/wake-word.md)."""
    stt_views: int = Field(3, ge=1, le=3)
    """With ``verify = stt``: how many placements of the buffer Whisper looks at; two must pass. A
    candidate that passes the first look is looked at again with the buffer 0.3 s later and (with 3), if
    that fails, with its first 0.25 s cut. 1 = one look decides. Whisper's transcript of a short clip
    changes with where the clip starts, so a near miss that one look lets through rarely passes two. The
    second look runs on another core alongside the first: the wait at a wake grows a little, and every
    candidate costs two looks of CPU (docs/design/wake-word.md)."""
    porcupine_access_key: SecretStr | None = None
    """Picovoice AccessKey (a secret: environment or credentials file ``wake__porcupine_access_key``)."""
    porcupine_sensitivity: float = Field(0.5, ge=0.0, le=1.0)


class VadConfig(Section):
    engine: Literal["silero"] = "silero"
    precision: Literal["int8", "fp32"] = "int8"
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    speech_start_ms: int = Field(60, ge=0)
    """Speech must last this long before ``speech_start``."""
    barge_in_ms: int = Field(200, ge=0)
    """Speech over the agent's own voice must last this long to interrupt it."""
    playback_threshold: float = Field(0.85, gt=0.0, lt=1.0)
    """VAD threshold while the agent speaks, so its own voice in the microphone doesn't interrupt it."""
    quiet_drop_db: float = Field(12.0, ge=0.0, le=60.0)
    """During a turn, sound whose loudness envelope is this many dB below the user's counts as
    silence unless the VAD is sure it is speech: babble or a TV nearby (which Silero scores as speech)
    no longer holds the end of the turn back. 0 = the VAD alone decides."""
    quiet_window_ms: int = Field(384, ge=32, le=2000)
    """The loudness envelope: the loudest 32 ms frame of this much audio."""
    quiet_end_ms: int = Field(640, ge=0, le=10000)
    """During a turn, speech with no 32 ms frame within ``user_within_db`` of the user's loudest for
    this long is a voice in the room (a television the VAD is sure of), not the user: the user's
    speech ended at the last such frame, and speech resumes the turn only when it comes that near
    again. 0 = off (the VAD alone, with ``quiet_drop_db``, says when speech ends)."""
    user_within_db: float = Field(14.0, gt=0.0, le=60.0)
    """How near the loudest envelope of the user's confident speech a frame must come to count as
    the user's (``quiet_end_ms``)."""


class TurnConfig(Section):
    enabled: bool = True
    threshold: float = Field(0.6, gt=0.0, lt=1.0)
    """Probability (the turn model's, blended with the semantic hint) at or above which the turn is
    complete; with the hint off (``semantic_wait_ms = 0``) use 0.7 and two votes (docs/design/end-of-turn.md)."""
    first_check_ms: int = Field(288, ge=0, le=5000)
    """Silence (as the VAD sees it, ~100 ms after the last word) before the turn model is first asked."""
    recheck_ms: int = Field(64, ge=10, le=5000)
    """Ask again every this many ms while the silence grows."""
    max_silence_ms: int = Field(2000, ge=100, le=30000)
    """Silence that ends the turn whatever the model says."""
    max_context_s: float = Field(8.0, gt=0.0, le=8.0)
    """How much of the turn the model sees (Smart Turn takes at most 8 s)."""
    max_turn_s: float = Field(30.0, gt=1.0, le=600.0)
    """A turn longer than this is cut (a monologue must not grow buffers without bound)."""
    early_threshold: float = Field(0.6, gt=0.0, lt=1.0)
    """Threshold in force before ``early_ms`` of silence (stricter early = fewer cut-ins at pauses)."""
    early_ms: int = Field(0, ge=0, le=5000)
    confirm_votes: int = Field(1, ge=1, le=10)
    """Consecutive 'complete' answers needed to end the turn."""
    listen_timeout_s: float = Field(8.0, gt=0.0, le=600.0)
    """Woken (or asked to listen) but nobody speaks for this long: back to idle."""
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    """Audio before the detected speech start that the turn audio includes."""
    semantic_weight: float = Field(0.7, ge=0.0, le=1.0)
    """Weight of a text-completeness hint (``Listener.set_semantic_hint``) against the turn model."""
    semantic_wait_ms: int = Field(500, ge=0, le=5000)
    """Silence during which the model alone may not end the turn while no hint has arrived; > 0 also
    turns the hint on in the daemon (the local LM's P(end of sentence) on the speculative transcript,
    sharing the chat model's weights). 0 = audio only (then use threshold 0.7, confirm_votes 2)."""
    hint_confidence: Literal["off", "both", "finished"] = "off"
    """Weigh the text hint by the STT's confidence in its transcript (mean token log-probability,
    no-speech probability, agreement with the turn's earlier speculative transcript). ``both``: a
    doubtful transcript's hint is pulled towards "no opinion" either way, so it neither ends nor
    holds the turn; ``finished``: only a doubtful hint that says "finished" is (a doubtful transcript
    cannot end a turn; one that looks unfinished still holds it, up to the bounded wait
    ``sure_after_ms``); ``off``: every transcript counts as sure."""
    hint_doubt_logprob: float = Field(-1.2, le=0.0)
    """Whisper mean token log-probability at or below which the transcript is not trusted at all."""
    hint_sure_logprob: float = Field(-0.2, le=0.0)
    """Mean token log-probability at or above which the transcript is fully trusted (linear between)."""
    disagree_below: float = Field(0.3, ge=0.0, le=1.0)
    """Smart Turn below this while the blend with the text says complete: the models disagree (the
    words look finished, the voice does not), and the turn waits ``disagree_wait_ms``. 0 = off."""
    disagree_wait_ms: int = Field(400, ge=0, le=5000)
    """Silence before a turn the two models disagree on may end (counted like ``first_check_ms``)."""
    sure_threshold: float = Field(0.8, gt=0.0, le=1.0)
    """Smart Turn at or above this after ``sure_after_ms`` of silence ends the turn whatever the text
    says, so a transcript that looks unfinished cannot hold it to ``max_silence_ms``. 1.0 = off."""
    sure_after_ms: int = Field(1000, ge=0, le=30000)
    """Silence before Smart Turn alone may end the turn against the text (see ``sure_threshold``)."""
    quick_hint: float = Field(0.985, ge=0.0, le=1.0)
    """A text hint below this cannot end the turn before ``lead_on_wait_ms`` of silence. The LM hint
    keeps its top 2% for P(end) past 0.2 (``listen.semantic.hint_from_probability``): 0.985 is P(end)
    0.25. A command cut at a short inner pause ("Set the oven | to 180 degrees") looks finished, but
    less surely than most finished commands (docs/design/end-of-turn.md)."""
    lead_on_wait_ms: int = Field(416, ge=0, le=5000)
    """Silence before a turn whose text is not sure it ended may end (0 = off; checks fall every
    ``recheck_ms`` from ``first_check_ms``: 416 is the third)."""
    settled_after_ms: int = Field(1000, ge=0, le=30000)
    """Silence that ends the turn once the speculative transcript of this silence is in, whatever the
    models say (the words cannot change unless the user speaks again); ``max_silence_ms`` stays for
    silence with no transcript. Above the 0.7 s pauses the bench keeps. 0 = off."""
    decision: Literal["blend", "trained"] = "blend"
    """``blend``: Smart Turn and the text hint, weighed (``semantic_weight``, ``threshold``) and bounded
    by the disagreement and lead-on waits; ``trained``: a logistic regression over the text hint's
    P(end), the STT's scores and the silence, fitted on the tuning split (``listen/completeness.json``)."""


class SttConfig(Section):
    engine: Literal["whisper", "vosk"] = "whisper"
    model: str = "whisper-tiny-en"
    """Model name from the manifest, or a path to a model directory."""
    language: str = "en"
    compute_type: str = "int8"
    beam_size: int = Field(1, ge=1, le=10)
    threads: int = Field(1, ge=1, le=16)
    speculative: bool = True
    """Decode as soon as silence starts; throw the result away if the user goes on."""
    min_encoder_s: float = Field(15.0, ge=1.0, le=30.0)
    """Whisper: shortest window the encoder sees (stock Whisper pads to 30 s). Shorter is cheaper; below
    15 s tiny.en starts to lose words (docs/design/stt-encoder-window.md, ``tools/stt_timings.py``)."""


class CloudRegion(Section):
    name: str
    base_url: str
    """Up to and including ``/v1``, e.g. ``https://eu.example.com/v1``."""
    model: str

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class CloudConfig(Section):
    api_key: SecretStr | None = None
    """A secret: environment ``EDGE_AGENT_LLM__CLOUD__API_KEY`` or credentials file ``llm__cloud__api_key``."""
    regions: list[CloudRegion] = Field(default_factory=list)
    probe_interval_s: float = Field(30.0, gt=0)
    probe_timeout_s: float = Field(2.0, gt=0)
    ewma_alpha: float = Field(0.3, gt=0, le=1)
    breaker_failures: int = Field(3, ge=1)
    breaker_cooldown_s: float = Field(30.0, gt=0)
    connect_timeout_ms: int = Field(1000, ge=10)
    hedge: bool = False
    """Start the next-best region in parallel when the chosen one is slower than its usual p95."""
    stall_timeout_ms: int = Field(5000, ge=10)
    """After the first token, a gap longer than this between chunks ends the reply (with a short note)."""
    max_tokens: int = Field(200, ge=1)
    temperature: float = Field(0.3, ge=0.0, le=2.0)


class LocalLlmConfig(Section):
    model: str = "smollm2-135m-instruct"
    """Model name from the manifest, or a path to any GGUF file."""
    n_ctx: int = Field(1024, ge=256)
    """Context window in tokens (system prompt + ``history_tokens`` + the reply fit in 1024; the
    KV cache costs ~23 KB per token for SmolLM2-135M)."""
    threads: int = Field(1, ge=1, le=64)
    """llama.cpp threads. 1 on a 2-core board: its threads spin-wait on each other, and the listener,
    STT and TTS need the other core (docs/design/engine-threads.md)."""
    max_tokens: int = Field(96, ge=1)
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    history_tokens: int = Field(768, ge=0)
    """Older turns are dropped once the history exceeds this many tokens."""
    max_sentences: int = Field(2, ge=0)
    """Stop a reply after this many sentences (0: no limit); a speaker should not lecture."""


class LlmPolicy(StrEnum):
    LOCAL_FIRST = "local_first"
    CLOUD_FIRST = "cloud_first"
    LOCAL_ONLY = "local_only"
    CLOUD_ONLY = "cloud_only"


class LlmConfig(Section):
    policy: LlmPolicy = LlmPolicy.LOCAL_FIRST
    first_token_budget_ms: int = Field(800, ge=10)
    """A backend that has not produced a first token by then is abandoned for the next one."""
    total_timeout_s: float = Field(30.0, gt=0)
    persona: str = "Edge"
    system_prompt: str = (
        "You are {persona}, a friendly voice assistant in a kiosk. Answer in one or two short "
        "spoken sentences. No markdown, no lists, no emoji."
    )
    escalate_keywords: list[str] = Field(default_factory=list)
    """If the user's words contain one of these, go to the cloud first (``local_first`` only)."""
    local: LocalLlmConfig = Field(default_factory=LocalLlmConfig)
    cloud: CloudConfig = Field(default_factory=CloudConfig)


class TtsConfig(Section):
    engine: Literal["piper"] = "piper"
    voice: str = "piper-joe-medium"
    """Voice name from the manifest, or a path to a Piper ``.onnx`` (with its ``.onnx.json`` beside it)."""
    speaker_id: int | None = None
    length_scale: float = Field(1.0, gt=0.1, le=5.0)
    threads: int = Field(1, ge=1, le=16)


class ConversationConfig(Section):
    follow_up_s: float = Field(6.0, ge=0.0)
    """After a reply, listen without the wake word for this long."""
    barge_in: bool = True
    apology: str = "Sorry, I couldn't answer that just now."


class ToolConfig(Section):
    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
    description: str = ""
    topic: str = ""
    """Topic template, e.g. ``home/{room}/light/set`` (empty for a ``command`` tool)."""
    command: list[str] = Field(default_factory=list)
    """Instead of an MQTT publish: a program to run, as its argument list (no shell), each element a
    template like the topic's, e.g. ``["/usr/local/bin/relay", "{room}", "{state}"]``. The call is done
    only when the program exits with status 0 within ``timeout_s``; no broker is needed."""
    timeout_s: float = Field(5.0, gt=0, le=60)
    """A ``command`` still running after this long is stopped, and the call is not done."""
    payload: str = "{{}}"
    """Payload template, e.g. ``{{"state": "{on}"}}`` (Python ``str.format``: literal braces doubled;
    the default ``{{}}`` is the empty JSON object). Values are JSON-escaped."""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON schema of the arguments."""
    confirm: bool = False
    """Ask the user before running it."""
    qos: int = Field(1, ge=0, le=2)
    retain: bool = False

    @model_validator(mode="after")
    def _one_way_to_run(self) -> ToolConfig:
        if bool(self.topic) == bool(self.command):
            raise ValueError("give exactly one of topic (an MQTT publish) and command (a program to run)")
        return self


class MqttConfig(Section):
    enabled: bool = False
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    """A secret: credentials file ``mqtt__password`` (systemd ``LoadCredential=``), or ``password_file``."""
    password_file: Path | None = None
    """A file holding the password (read at start; its contents are never logged)."""
    tls: bool = False
    """Connect with TLS (implied by ``tls_ca``); without ``tls_ca`` the system CA store is used."""
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    """Client certificate (PEM), with ``tls_key``, for brokers that require one."""
    tls_key: Path | None = None
    tls_insecure: bool = False
    """Skip the broker host name check (testing only)."""
    device_id: str = Field(default_factory=lambda: socket.gethostname().split(".")[0] or "edge-agent")
    topic_prefix: str = "edge-agent"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    keepalive: int = Field(30, ge=5, le=3600)
    metrics_interval: float = Field(30.0, gt=0)
    max_queued_messages: int = Field(1000, ge=10)
    """Bound on paho's offline queue of QoS 1 events; retained topics are kept apart (newest only)."""
    reconnect_min_s: int = Field(1, ge=1, le=60)
    reconnect_max_s: int = Field(30, ge=1, le=3600)
    """Reconnect backoff doubles from ``reconnect_min_s`` up to this."""
    max_commands_per_s: float = Field(200.0, gt=0)
    """Incoming commands are handled at most this fast; a flood waits at the broker."""
    tools: list[ToolConfig] = Field(default_factory=list)

    @field_validator("device_id", "topic_prefix", "discovery_prefix")
    @classmethod
    def _topic_safe(cls, v: str) -> str:
        if not v or any(c in v for c in "+#\0") or v.startswith("/") or v.endswith("/"):
            raise ValueError("must be non-empty, without +, # or NUL, and not start or end with /")
        return v

    @field_validator("device_id")
    @classmethod
    def _one_level(cls, v: str) -> str:
        if "/" in v:
            raise ValueError("must be a single topic level (no /)")
        return v


class KnowledgeConfig(Section):
    files: list[Path] | None = None
    """The operator's Markdown files (one ``##`` heading per topic, prose under it). None = the
    shipped museum-kiosk demo file; ``[]`` = no knowledge."""
    min_score: float = Field(2.0, ge=0.0)
    """Smallest BM25 score (higher is better) at which a passage answers; below it the question goes on
    to the next step of the answer router. Chosen on the tuning split of ``edge-agent bench answers``."""
    max_sentences: int = Field(2, ge=1, le=10)
    """The reply is at most this many sentences of the passage (those that match the question best)."""


class AnswersConfig(Section):
    enabled: bool = True
    """Route every turn through the answer router (intents, knowledge, small talk, the cloud, or an
    honest "I don't know") before any LLM; off: every turn goes straight to the LLM."""
    intents: bool = True
    """Answer commands (time, timers, volume, devices through the declared tools) locally with Home
    Assistant's sentence templates, before the knowledge files and the LLM."""
    language: str = "en"
    """Language of the intent templates (``home-assistant-intents``); other text goes to the LLM."""
    demo_tool: bool = False
    """Declare the example ``set_light`` tool (rooms ``lobby`` and ``cafe``) when ``mqtt.tools`` is empty:
    an MQTT publish when ``mqtt.enabled``, else the demo's light panel program (no broker needed)."""


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: LogFormat = LogFormat.TEXT


class PathsConfig(Section):
    models_dir: Path = Field(default_factory=default_models_dir)
    state_dir: Path | None = None


# --- the settings -------------------------------------------------------------------------------


class Settings(BaseSettings):
    """Everything the agent can be told. See the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
        case_sensitive=False,
    )

    audio: AudioConfig = Field(default_factory=AudioConfig)
    wake: WakeConfig = Field(default_factory=WakeConfig)
    vad: VadConfig = Field(default_factory=VadConfig)
    turn: TurnConfig = Field(default_factory=TurnConfig)
    stt: SttConfig = Field(default_factory=SttConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    tts: TtsConfig = Field(default_factory=TtsConfig)
    conversation: ConversationConfig = Field(default_factory=ConversationConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    answers: AnswersConfig = Field(default_factory=AnswersConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins in pydantic-settings; init holds the TOML file's contents.
        return (CredentialsSource(settings_cls), env_settings, init_settings)


CREDENTIALS_DIR_PREFIX = "edge-agent_"


class CredentialsSource(PydanticBaseSettingsSource):
    """Secrets from ``$CREDENTIALS_DIRECTORY``: a file ``mqtt__password`` sets ``mqtt.password``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole dict

    def __call__(self) -> dict[str, Any]:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory or not Path(directory).is_dir():
            return {}
        out: dict[str, Any] = {}
        for entry in sorted(Path(directory).iterdir()):
            if not entry.is_file():
                continue
            # "edge-agent_" is what systemd prefixes when the unit loads a whole directory
            # (LoadCredential=edge-agent:/etc/edge-agent/credentials).
            name = entry.name.removeprefix(CREDENTIALS_DIR_PREFIX)
            parts = name.replace(".", "__").lower().split("__")
            if len(parts) < 2 or parts[0] not in Settings.model_fields:
                continue  # other credentials of the unit are none of our business
            node = out
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            try:
                node[parts[-1]] = entry.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"credential file {entry} cannot be read as UTF-8 text: {exc}") from None
        return out


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("EDGE_AGENT_CONFIG")
    if env:
        return Path(env)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load the settings; every expected problem becomes a :class:`ConfigError` naming the field."""
    file = config_path(path)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {file} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"config file {file} cannot be read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {file} is not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    file_data = copy.deepcopy(data)
    _merge(data, overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, file, file_data)) from None
    from edge_agent.logs import register_secrets

    register_secrets(settings)  # from now on no log line can carry these values
    return settings


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def describe_validation_error(exc: ValidationError, file: Path | None = None,
                              file_data: dict[str, Any] | None = None) -> str:
    """One line per problem: the dotted field, where it came from, the bad value, and what is allowed."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        where = _where(err["loc"], err.get("input"), file, file_data)
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting {loc!r}{where} (check the spelling; `edge-agent config schema` lists them)")
            continue
        value = err.get("input")
        shown = "***" if _is_secret_loc(err["loc"]) else repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        lines.append(f"invalid value for {loc!r}{where}: {shown}: {err['msg']}")
    return "\n".join(lines)


def _where(loc: tuple[Any, ...], value: Any, file: Path | None, file_data: dict[str, Any] | None) -> str:
    """`` in FILE`` when the bad value is the file's; otherwise it came from the environment or credentials."""
    if file is None:
        return ""
    if file_data is None:
        return f" in {file}"
    node: Any = file_data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_dict or in_list):
            return " (from the environment or $CREDENTIALS_DIRECTORY)"
        node = node[part]
    if node is value or node == value:
        return f" in {file}"
    return " (from the environment or $CREDENTIALS_DIRECTORY)"


def _is_secret_loc(loc: tuple[Any, ...]) -> bool:
    return any(str(p) in {"password", "api_key", "porcupine_access_key"} for p in loc)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON-able data with every secret shown as ``***``."""
    data = settings.model_dump(mode="json")

    def mask(node: Any, model: Any) -> Any:
        if isinstance(model, SecretStr):
            return "***"
        if isinstance(model, BaseModel) and isinstance(node, dict):
            return {k: mask(node[k], getattr(model, k)) for k in node}
        if isinstance(model, list) and isinstance(node, list):
            return [mask(n, m) for n, m in zip(node, model, strict=False)]
        return node

    return mask(data, settings)  # type: ignore[no-any-return]
