"""TLS with a CA and a client certificate, plus username and password from a file, against a real
mosquitto that requires all three. Certificates are made at test time with the openssl CLI."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from mqtt_helpers import FakeControl, mqtt_config, wait_connected

from edge_agent.events import Transcript
from edge_agent.mqtt.bridge import MqttBridge
from edge_agent.testing.localbroker import Mosquitto

pytestmark = pytest.mark.real_broker


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def make_pki(d: Path) -> None:
    if not shutil.which("openssl"):
        pytest.fail("the openssl command is needed to make test certificates: apt-get install openssl")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run("openssl", "req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
         "-days", "2", "-subj", "/CN=edge-agent test CA")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _run("openssl", "req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
             "-subj", f"/CN={name}")
        _run("openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"),
             "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", "2",
             "-extfile", str(d / "san.ext"))


@pytest.fixture
def tls_broker(tmp_path: Path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    _run("mosquitto_passwd", "-b", "-c", str(pki / "passwd"), "agent", "right-pw")
    conf = (f"cafile {pki / 'ca.pem'}\ncertfile {pki / 'server.pem'}\nkeyfile {pki / 'server.key'}\n"
            f"require_certificate true\npassword_file {pki / 'passwd'}\n")
    broker = Mosquitto(tmp_path / "broker", extra_conf=conf, allow_anonymous=False)
    broker.start()
    yield broker, pki
    broker.stop()


def test_tls_client_certificate_and_password(tls_broker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker, pki = tls_broker
    caplog.set_level(logging.DEBUG)
    pw = tmp_path / "mqtt-password"
    pw.write_text("right-pw\n")
    tls = dict(tls_ca=pki / "ca.pem", tls_cert=pki / "client.pem", tls_key=pki / "client.key")
    good = MqttBridge(mqtt_config(broker.port, device_id="tls", username="agent", password_file=pw, **tls))
    good.attach(FakeControl(), None)
    good.start()
    try:
        wait_connected(good)
        good.on_event(Transcript(text="over TLS"))
        assert good.flush()
        assert good.stats.events_published == 1 and good.stats.handler_errors == 0
    finally:
        good.stop()

    # wrong password: refused, retried in the background, and the password is never logged
    pw.write_text("wrong-pw\n")
    bad = MqttBridge(mqtt_config(broker.port, device_id="tls2", username="agent", password_file=pw, **tls))
    bad.start()
    time.sleep(1.5)
    try:
        assert not bad.connected
        assert "refused the connection" in caplog.text
    finally:
        bad.stop(timeout=0.5)
    # no client certificate: the TLS handshake fails; the bridge keeps trying without blocking anyone
    nocert = MqttBridge(mqtt_config(broker.port, device_id="tls3", username="agent", tls_ca=pki / "ca.pem",
                                    password_file=pw))
    nocert.start()
    time.sleep(1.0)
    try:
        assert not nocert.connected
    finally:
        nocert.stop(timeout=0.5)
    assert "right-pw" not in caplog.text and "wrong-pw" not in caplog.text
