"""The paho client the bridge talks through, configured from ``[mqtt]``: MQTT 5, manual
acknowledgements, a Last Will of ``offline``, credentials and TLS, reconnect backoff and a bounded
offline queue. Configuration mistakes raise :class:`~edge_agent.errors.MqttError` naming the setting."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import MqttConfig
from edge_agent.errors import MqttError

MAX_INFLIGHT = 50
"""QoS 1 publishes paho keeps in flight at once."""


def make_client(cfg: MqttConfig, client_id: str, will_topic: str) -> mqtt.Client:
    """A configured client, not yet connected and without callbacks."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,  # acked by the worker once handled: the broker's flow control paces a flood
    )
    client.will_set(will_topic, "offline", qos=1, retain=True)
    password = read_password(cfg)
    if cfg.username is not None:
        client.username_pw_set(cfg.username, password)
    if cfg.tls or cfg.tls_ca or cfg.tls_cert:
        set_tls(client, cfg)
    client.reconnect_delay_set(cfg.reconnect_min_s, max(cfg.reconnect_min_s, cfg.reconnect_max_s))
    client.max_queued_messages_set(cfg.max_queued_messages)
    client.max_inflight_messages_set(MAX_INFLIGHT)
    return client


def read_password(cfg: MqttConfig) -> str | None:
    if cfg.password is not None:
        return cfg.password.get_secret_value()
    if cfg.password_file is not None:
        try:
            return cfg.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MqttError(f"mqtt.password_file {cfg.password_file} cannot be read: {exc.strerror}") from None
    return None


def set_tls(client: mqtt.Client, cfg: MqttConfig) -> None:
    for name in ("tls_ca", "tls_cert", "tls_key"):
        path = getattr(cfg, name)
        if path is not None and not path.is_file():
            raise MqttError(f"mqtt.{name} {path} does not exist")
    try:
        client.tls_set(
            ca_certs=str(cfg.tls_ca) if cfg.tls_ca else None,
            certfile=str(cfg.tls_cert) if cfg.tls_cert else None,
            keyfile=str(cfg.tls_key) if cfg.tls_key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise MqttError(f"mqtt TLS setup failed (check tls_ca, tls_cert, tls_key): {exc}") from None
    if cfg.tls_insecure:
        client.tls_insecure_set(True)
