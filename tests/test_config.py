"""Settings: defaults, TOML file, environment, systemd credentials, and the `edge-agent config` CLI
(exit 78 naming the field, no traceback, secrets never shown)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent import config as config_module
from edge_agent.config import ConfigError, LocalLlmConfig, load_settings, masked_dump

EX_CONFIG = 78


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("EDGE_AGENT_") and k != "CREDENTIALS_DIRECTORY"}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings from the machine running the tests: environment, credentials, /etc file."""
    for key in list(os.environ):
        if key.startswith("EDGE_AGENT_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", tmp_path / "no-such-system-config.toml")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = _clean_env()
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=60, check=False)


# --- sources ------------------------------------------------------------------------------------


def test_defaults_load() -> None:
    s = load_settings()
    assert s.audio.sample_rate == 16000
    assert s.mqtt.port == 1883
    assert s.mqtt.password is None
    assert s.paths.models_dir.name == "models"


def test_toml_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "c.toml", '[audio]\nsample_rate = 48000\n[mqtt]\nhost = "broker.lan"\nport = 8883\n'
                                    '[llm.local]\nthreads = 4\n')
    s = load_settings(f)
    assert (s.audio.sample_rate, s.mqtt.host, s.mqtt.port, s.llm.local.threads) == (48000, "broker.lan", 8883, 4)
    assert s.llm.local.n_ctx == LocalLlmConfig().n_ctx  # untouched keys keep their defaults


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = _write(tmp_path / "c.toml", "[mqtt]\nport = 1999\n")
    monkeypatch.setenv("EDGE_AGENT_CONFIG", str(f))
    assert load_settings().mqtt.port == 1999


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = _write(tmp_path / "c.toml", '[mqtt]\nport = 1884\nhost = "from-file"\n')
    monkeypatch.setenv("EDGE_AGENT_MQTT__PORT", "2000")
    s = load_settings(f)
    assert s.mqtt.port == 2000
    assert s.mqtt.host == "from-file"  # the rest of the section still comes from the file


def test_credentials_directory_sets_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    _write(creds / "mqtt__password", "s3cret-from-systemd\n")
    _write(creds / "llm.cloud.api_key", "sk-cloud")
    _write(creds / "unrelated", "not ours")  # other credentials of the unit are ignored
    f = _write(tmp_path / "c.toml", '[mqtt]\npassword = "from-file"\n')
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("EDGE_AGENT_MQTT__PASSWORD", "from-env")
    s = load_settings(f)
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "s3cret-from-systemd"
    assert s.llm.cloud.api_key is not None and s.llm.cloud.api_key.get_secret_value() == "sk-cloud"
    assert "s3cret" not in repr(s.mqtt)
    dumped = json.dumps(masked_dump(s))
    assert "s3cret" not in dumped and "sk-cloud" not in dumped


def test_unreadable_credential_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt__password").write_bytes(b"\xff\xfe\x00bad")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with pytest.raises(ConfigError, match="mqtt__password"):
        load_settings()


def test_errors_name_the_field_value_and_what_is_allowed(tmp_path: Path) -> None:
    f = _write(tmp_path / "c.toml", '[stt]\nengine = "sphinx"\n[audio]\nsample_rate = 100\n')
    with pytest.raises(ConfigError) as info:
        load_settings(f)
    message = info.value.message
    assert "'stt.engine'" in message and "'sphinx'" in message and "whisper" in message and "vosk" in message
    assert "'audio.sample_rate'" in message and "8000" in message
    assert info.value.exit_code == EX_CONFIG


def test_error_from_environment_is_not_blamed_on_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = _write(tmp_path / "c.toml", "[mqtt]\nport = 1884\n")
    monkeypatch.setenv("EDGE_AGENT_MQTT__PORT", "abc")
    with pytest.raises(ConfigError, match="environment") as info:
        load_settings(f)
    assert str(f) not in info.value.message


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    f = _write(tmp_path / "c.toml", "[mqtt]\npassword = 12345678\n")
    with pytest.raises(ConfigError) as info:
        load_settings(f)
    assert "12345678" not in info.value.message
    assert "mqtt.password" in info.value.message


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_bad_sample_rate_exits_78_naming_it(tmp_path: Path) -> None:
    _write(tmp_path / "bad.toml", '[audio]\nsample_rate = "fast"\n')
    r = cli("config", "check", "--config", "bad.toml", cwd=tmp_path)
    assert r.returncode == EX_CONFIG
    assert "sample_rate" in r.stderr and "'fast'" in r.stderr and "integer" in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("edge-agent: ")


def test_cli_unknown_key_exits_78_naming_it(tmp_path: Path) -> None:
    _write(tmp_path / "typo.toml", "[audio]\nsampel_rate = 16000\n")
    r = cli("config", "check", "--config", "typo.toml", cwd=tmp_path)
    assert r.returncode == EX_CONFIG
    assert "sampel_rate" in r.stderr and "unknown" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_unknown_section_exits_78(tmp_path: Path) -> None:
    _write(tmp_path / "typo.toml", "[mqqt]\nport = 1\n")
    r = cli("config", "check", "--config", "typo.toml", cwd=tmp_path)
    assert r.returncode == EX_CONFIG
    assert "mqqt" in r.stderr


def test_cli_unknown_key_from_environment_exits_78() -> None:
    r = cli("config", "check", env={"EDGE_AGENT_MQTT__PORTT": "1"})
    assert r.returncode == EX_CONFIG
    assert "mqtt.portt" in r.stderr


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("syntax.toml", b"[audio\nsample_rate = 1\n", "not valid TOML"),
    ("latin1.toml", b"[audio]\n# caf\xe9\n", "UTF-8"),
])
def test_cli_unreadable_file_exits_78(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    r = cli("config", "check", "--config", name, cwd=tmp_path)
    assert r.returncode == EX_CONFIG
    assert expected in r.stderr and name in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_missing_file_exits_78(tmp_path: Path) -> None:
    r = cli("config", "check", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == EX_CONFIG
    assert "does not exist" in r.stderr


def test_cli_check_ok_and_global_config_option(tmp_path: Path) -> None:
    _write(tmp_path / "ok.toml", "[mqtt]\nport = 1884\n")
    r = cli("config", "check", "--config", "ok.toml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "config ok" in r.stdout
    r = cli("--config", "ok.toml", "config", "show", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mqtt"]["port"] == 1884


def test_cli_show_masks_secrets(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    _write(creds / "llm__cloud__api_key", "sk-very-secret-key")
    _write(tmp_path / "c.toml", '[mqtt]\nusername = "kiosk"\npassword = "hunter2-password"\n')
    r = cli("config", "show", "--config", str(tmp_path / "c.toml"),
            env={"CREDENTIALS_DIRECTORY": str(creds), "EDGE_AGENT_WAKE__PORCUPINE_ACCESS_KEY": "pv-key-value"})
    assert r.returncode == 0, r.stderr
    for secret in ("hunter2-password", "sk-very-secret-key", "pv-key-value"):
        assert secret not in r.stdout and secret not in r.stderr
    shown = json.loads(r.stdout)
    assert shown["mqtt"]["password"] == "***"
    assert shown["mqtt"]["username"] == "kiosk"
    assert shown["llm"]["cloud"]["api_key"] == "***"
    assert shown["wake"]["porcupine_access_key"] == "***"


def test_cli_schema_is_json_schema() -> None:
    r = cli("config", "schema")
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert schema["type"] == "object"
    assert {"audio", "wake", "vad", "turn", "stt", "llm", "tts", "mqtt", "logging", "paths"} <= set(schema["properties"])
