"""Client security: the settings for an external cluster, keeping secrets out of every message, and the
same settings as Java client properties for Kafka's own tools."""

from __future__ import annotations

import os
import re
from typing import Mapping

from kafkabp.infra.paths import BrokerError

# librdkafka settings whose values are secrets: never printed, logged or put in an error message.
SECRET_KEYS = frozenset({"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.truststore.password",
                         "sasl.oauthbearer.client.secret", "sasl.jaas.config"})
SECRET_ENV = ("KAFKA_SASL_PASSWORD",)
REDACTED = "[redacted]"

_target_secrets: list[str] = []  # the current target's secret values (set by kafkabp.infra.target)


def external_config() -> dict[str, str]:
    """librdkafka settings for ``KAFKA_BOOTSTRAP_SERVERS`` and the optional security variables."""
    conf = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"]}
    mapping = {
        "KAFKA_SECURITY_PROTOCOL": "security.protocol",
        "KAFKA_SASL_MECHANISM": "sasl.mechanism",
        "KAFKA_SASL_USERNAME": "sasl.username",
        "KAFKA_SASL_PASSWORD": "sasl.password",
        "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    }
    for env, key in mapping.items():
        if os.environ.get(env):
            conf[key] = os.environ[env]
    return conf


def external_requested() -> bool:
    """True when ``KAFKA_BOOTSTRAP_SERVERS`` names the broker to use (and ``KAFKABP_BROKER`` allows it)."""
    return bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) and (
        os.environ.get("KAFKABP_BROKER") or "auto").lower() in ("auto", "external")


def use_target_secrets(config: Mapping[str, object]) -> None:
    """Remember the secret values of the current target's client settings, so that :func:`redact` hides them."""
    _target_secrets[:] = [str(v) for k, v in config.items() if k in SECRET_KEYS]


def secrets() -> list[str]:
    """Secret values kafkabp knows of now (from the environment and the current broker's settings)."""
    values = {os.environ.get(e, "") for e in SECRET_ENV} | set(_target_secrets)
    return sorted((v for v in values if v), key=len, reverse=True)


def redact(value: object) -> object:
    """``value`` without secrets: a config mapping gets its secret settings replaced by ``[redacted]``; a text
    gets every known secret value, and anything after ``password=`` / ``sasl.password=``, replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_KEYS and v else v) for k, v in value.items()}
    text = str(value)
    for secret in secrets():
        text = text.replace(secret, REDACTED)
    return re.sub(r'((?:password|secret)\s*[=:]\s*)("[^"]*"|[^\s,;"]+)', rf"\1{REDACTED}", text, flags=re.I)


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _properties_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def tool_properties(security: dict[str, str]) -> str:
    """Java client properties (``--command-config``) for librdkafka security settings; secrets included."""
    lines = []
    protocol = security.get("security.protocol")
    if protocol:
        lines.append(f"security.protocol={protocol.upper()}")
    mechanism = security.get("sasl.mechanism")
    if mechanism:
        lines.append(f"sasl.mechanism={mechanism}")
        module = {"PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
                  "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
                  "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule"}.get(mechanism.upper())
        if module is None:
            raise BrokerError(f"Kafka's tools need a login module for SASL mechanism {mechanism!r}: kafkabp writes "
                              "one for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (KAFKA_SASL_MECHANISM)")
        jaas = (f"{module} required username={_jaas_quote(security.get('sasl.username', ''))} "
                f"password={_jaas_quote(security.get('sasl.password', ''))};")
        lines.append(f"sasl.jaas.config={_properties_escape(jaas)}")
    ca = security.get("ssl.ca.location")
    if ca:
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={_properties_escape(ca)}"]
    return "".join(line + "\n" for line in lines)
