"""Logging: one line per record, levels, JSON, journald priorities, and no secret ever written."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent import logs
from edge_agent.config import load_settings, masked_dump

PASSWORD = "hunter2-mqtt-pw"
API_KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield root
    root.handlers[:], level = saved
    root.setLevel(level)


def capture(fmt: str, level: str, body: str, env: dict[str, str] | None = None, tmp_path: Path | None = None) -> str:
    """Run ``body`` in a fresh interpreter with logging set up; return what reached stderr."""
    code = f"from edge_agent.logs import setup_logging\nimport logging\nsetup_logging({level!r}, {fmt!r})\n" \
           f"log = logging.getLogger('edge_agent.test')\n{body}\n"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_AGENT_", "JOURNAL_STREAM"))}
    full_env.update(env or {})
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stderr


def test_one_line_per_record_with_levels() -> None:
    err = capture("text", "info", """
log.debug("not shown")
log.info("two\\nlines")
log.warning("careful")
try:
    raise ValueError("boom\\nsecond line")
except ValueError:
    log.exception("failed")
""")
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert lines[0].endswith("info edge_agent.test: two | lines")
    assert " warning edge_agent.test: careful" in lines[1]
    assert "error edge_agent.test: failed | Traceback" in lines[2] and "ValueError: boom | second line" in lines[2]
    assert lines[0][:4].isdigit() and "Z info" in lines[0]  # a UTC timestamp outside journald


def test_json_lines() -> None:
    err = capture("json", "debug", 'log.debug("d %s", 1)\nlog.error("e")')
    records = [json.loads(line) for line in err.splitlines()]
    assert [(r["level"], r["logger"], r["msg"]) for r in records] == [
        ("debug", "edge_agent.test", "d 1"), ("error", "edge_agent.test", "e")]
    assert all(isinstance(r["t"], float) for r in records)


def test_format_and_level_from_the_environment() -> None:
    code = ("from edge_agent.logs import setup_logging\nimport logging\nsetup_logging()\n"
            "logging.getLogger('x').debug('hello')\n")
    env = {**os.environ, "EDGE_AGENT_LOGGING__FORMAT": "json", "EDGE_AGENT_LOGGING__LEVEL": "debug"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(r.stderr)["msg"] == "hello"


def test_journald_gets_priorities_and_no_timestamp(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    code = ("import os, sys\n"
            "st = os.fstat(2)\n"
            "os.environ['JOURNAL_STREAM'] = f'{st.st_dev}:{st.st_ino}'\n"
            "from edge_agent.logs import setup_logging\nimport logging\nsetup_logging('debug', 'text')\n"
            "log = logging.getLogger('j')\nlog.debug('d')\nlog.info('i')\nlog.warning('w')\nlog.error('e')\n")
    with out.open("w") as f:
        subprocess.run([sys.executable, "-c", code], stderr=f, timeout=60, check=True)
    assert out.read_text().splitlines() == ["<7>debug j: d", "<6>info j: i", "<4>warning j: w", "<3>error j: e"]
    with out.open("w") as f:
        subprocess.run([sys.executable, "-c", code.replace("'text'", "'json'")], stderr=f, timeout=60, check=True)
    lines = out.read_text().splitlines()
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>"]
    assert [json.loads(line[3:])["msg"] for line in lines] == ["d", "i", "w", "e"]


def test_cli_log_format_option_reaches_the_handler(root_logger: logging.Logger) -> None:
    from edge_agent.cli import main

    main(["--log-format", "json", "--log-level", "warning", "config", "check", "--config", os.devnull])
    handler = root_logger.handlers[0]
    assert isinstance(handler.formatter, logs.JsonFormatter) and root_logger.level == logging.WARNING


def test_secrets_never_reach_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[mqtt]\nenabled = true\npassword = "{PASSWORD}"\n')
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "edge-agent_llm__cloud__api_key").write_text(API_KEY + "\n")  # as systemd names them
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    settings = load_settings(cfg)
    assert settings.mqtt.password is not None and settings.mqtt.password.get_secret_value() == PASSWORD
    assert settings.llm.cloud.api_key is not None and settings.llm.cloud.api_key.get_secret_value() == API_KEY

    stream = tmp_path / "log.txt"
    for formatter in (logs.TextFormatter(), logs.JsonFormatter()):
        handler = logging.FileHandler(stream, mode="w")
        handler.setFormatter(formatter)
        log = logging.getLogger("edge_agent.secret_test")
        log.addHandler(handler)
        log.propagate = False
        try:
            pw = settings.mqtt.password.get_secret_value()
            key = settings.llm.cloud.api_key.get_secret_value()
            log.warning("connecting as %s with %s", settings.mqtt.username, pw)   # a careless argument
            log.warning("cloud key is " + key)                                  # baked into the message
            log.warning("settings: %s", settings.model_dump())                  # a config dump
            log.warning("settings: %r", settings)
            log.warning("masked: %s", json.dumps(masked_dump(settings)))
            log.warning("raw dict: %s", {"mqtt": {"password": pw}, "llm": {"cloud": {"api_key": key}}})
            try:
                raise RuntimeError(f"auth failed for {pw}")
            except RuntimeError:
                log.exception("broker said no")
        finally:
            log.removeHandler(handler)
            handler.close()
        text = stream.read_text()
        assert PASSWORD not in text and API_KEY not in text, text
        assert text.count("***") >= 5


def test_shapes_of_unregistered_secrets_are_masked() -> None:
    r = logs.redact
    assert r("password=abc123xyz and token: 'zz99zz'") == "password=*** and token: '***'"
    assert "s3cr3t" not in r('{"api_key": "s3cr3t"}')
    assert r("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer ***"
    assert r("mqtt://user:pa55word@broker:1883") == "mqtt://user:***@broker:1883"
    assert r("an ordinary line") == "an ordinary line"
