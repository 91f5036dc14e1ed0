"""Expected errors: each carries the message a user sees and the process exit status.

The CLI catches :class:`EdgeAgentError` and prints ``edge-agent: <message>`` with no traceback.
One class per stage, so callers can tell where a failure came from.
"""

from __future__ import annotations

import os


class EdgeAgentError(Exception):
    """Base of every error a user may see. ``exit_code`` follows sysexits.h where one fits."""

    exit_code: int = 1
    stage: str = "agent"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EdgeAgentError):
    exit_code = os.EX_CONFIG  # 78: systemd's RestartPreventExitStatus=78 stops a restart loop
    stage = "config"


class UsageError(EdgeAgentError):
    exit_code = os.EX_USAGE  # 64
    stage = "command"


class ModelError(EdgeAgentError):
    """A model is missing or corrupt; the message names it and the command that fixes it."""

    exit_code = os.EX_UNAVAILABLE  # 69
    stage = "models"


class AudioError(EdgeAgentError):
    exit_code = os.EX_IOERR  # 74
    stage = "audio"


class InputDataError(EdgeAgentError):
    """A bad input file (empty, truncated, wrong format)."""

    exit_code = os.EX_DATAERR  # 65
    stage = "input"


class WakeWordError(EdgeAgentError):
    exit_code = os.EX_CONFIG
    stage = "wake"


class SttError(EdgeAgentError):
    stage = "stt"


class LlmError(EdgeAgentError):
    stage = "llm"


class TtsError(EdgeAgentError):
    stage = "tts"


class MqttError(EdgeAgentError):
    stage = "mqtt"


class NetworkError(EdgeAgentError):
    exit_code = os.EX_UNAVAILABLE
    stage = "network"
