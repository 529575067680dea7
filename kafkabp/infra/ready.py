"""Is a broker there? A metadata request that answers (or a clear error), and a warmed group coordinator."""

from __future__ import annotations

import time

from kafkabp.infra.paths import BrokerError, log, rdkafka_log
from kafkabp.infra.security import redact

EXTERNAL_TIMEOUT_S = 12.0  # an external cluster must answer within this
START_TIMEOUT_S = 90.0  # a node kafkabp starts must answer within this


def wait_until_ready(conf: dict[str, str], timeout: float) -> None:
    """Return once a metadata request answers; raise :class:`BrokerError` after ``timeout`` s."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    auth: list[str] = []  # authentication failures librdkafka reports through error_cb

    def on_error(err: object) -> None:
        code = getattr(err, "code", lambda: None)()
        if code == KafkaError._AUTHENTICATION or "auth" in str(err).lower():
            auth.append(str(err))

    admin = AdminClient({**conf, "logger": rdkafka_log, "socket.connection.setup.timeout.ms": 5000,
                         "error_cb": on_error})
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if auth:
                raise BrokerError(str(redact(
                    f"the Kafka broker at {conf['bootstrap.servers']} refused kafkabp's credentials "
                    f"({auth[-1]}). Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM "
                    f"(now {conf.get('sasl.mechanism', 'unset')}) and KAFKA_SECURITY_PROTOCOL "
                    f"(now {conf.get('security.protocol', 'unset')}).")))
            raise BrokerError(str(redact(
                f"no Kafka broker answered a metadata request at {conf['bootstrap.servers']} "
                f"within {timeout:.0f} s ({last}). Check the address and that the broker is up, "
                "or unset KAFKA_BOOTSTRAP_SERVERS to let kafkabp start a local broker."
            )))
        try:
            md = admin.list_topics(timeout=min(remaining, 5.0))
            if md.brokers:
                return
        except KafkaException as exc:
            last = exc
            admin.poll(0)  # serves error_cb: an authentication failure is reported there, not in the exception
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def warm_group_coordinator(conf: dict[str, str], timeout: float = 30.0) -> bool:
    """Ask a fresh broker for a group's offsets until its coordinator answers (True) or ``timeout`` passes.

    The first group request makes the broker create ``__consumer_offsets`` and load it; until then it
    answers NOT_COORDINATOR. Doing it here, once, spares the first experiment a few seconds of
    consumers waiting to join. A consumer that met COORDINATOR_NOT_AVAILABLE asks again only a second
    later, so each attempt uses a new consumer (its first FindCoordinator goes out at once).
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    attempt = 0.2  # seconds per attempt, doubling up to 4 s: a loaded machine answers slowly
    while time.monotonic() < deadline:
        consumer = Consumer({**conf, "group.id": "kafkabp-warm-up", "enable.auto.commit": False,
                             "logger": rdkafka_log})
        try:
            consumer.committed([TopicPartition("kafkabp-warm-up", 0)],
                               timeout=max(0.1, min(attempt, deadline - time.monotonic())))
            return True
        except KafkaException:  # NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, timed out ... while it loads
            attempt = min(2 * attempt, 4.0)
            time.sleep(0.05)
        finally:
            consumer.close()
    log.warning("the broker's group coordinator did not answer within %.0f s", timeout)
    return False


def answers(conf: dict[str, str], timeout: float = 5.0) -> bool:
    """True when a metadata request answers within ``timeout`` s."""
    try:
        wait_until_ready(conf, timeout)
        return True
    except BrokerError:
        return False

