"""Where Kafka's jars come from: Maven's settings (``~/.m2/settings.xml``: a mirror of Central, the local
repository), ``KAFKABP_MAVEN_MIRROR``, jgo's Maven contexts for downloads, and Maven itself as the fallback
that resolves ``resources/pom.xml`` when fetching the locked jars fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from kafkabp.infra import https
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, log

if TYPE_CHECKING:  # jgo (and requests under it) is imported only when something is downloaded:
    from jgo.maven import MavenContext  # a warm start never pays its ~0.15 s import

MIRROR_ENV = "KAFKABP_MAVEN_MIRROR"
DEFAULT_SOURCE = "Maven Central, through jgo"  # jgo's default repository, when no mirror is set
TIMEOUT_S = 15  # per connect / per read: a stalled server fails the attempt, not the whole fetch


def settings_file() -> Path:
    """Maven's per-user settings (``~/.m2/settings.xml``)."""
    return Path(os.path.expanduser("~/.m2/settings.xml"))


def _settings_root(path: Path) -> ET.Element | None:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    for el in root.iter():  # drop the POM namespace so that paths read plainly
        el.tag = el.tag.rsplit("}", 1)[-1]
    return root


def _expand(text: str) -> str:
    """Expand Maven's ``${env.NAME}`` and ``${user.home}`` in a settings value."""
    text = re.sub(r"\$\{env\.(\w+)\}", lambda m: os.environ.get(m.group(1), ""), text.strip())
    return text.replace("${user.home}", os.path.expanduser("~"))


def settings_mirror(path: Path | None = None) -> tuple[str, str] | None:
    """``(url, id)`` of the first mirror in settings.xml that serves Maven Central, or None.

    ``<mirrorOf>`` is a comma list: ``central``, ``*`` and ``external:*`` cover Central unless
    ``!central`` excludes it (Maven's own rules; ``external:http:*`` does not, Central is HTTPS).
    """
    root = _settings_root(path or settings_file())
    if root is None:
        return None
    for mirror in root.findall("./mirrors/mirror"):
        of = [p.strip() for p in (mirror.findtext("mirrorOf") or "").split(",")]
        url = _expand(mirror.findtext("url") or "")
        blocked = (mirror.findtext("blocked") or "").strip() == "true"
        if url and not blocked and "!central" not in of and ({"central", "*", "external:*"} & set(of)):
            return url.rstrip("/"), (mirror.findtext("id") or "").strip()
    return None


def local_repository(path: Path | None = None) -> Path:
    """The local Maven repository: settings.xml's ``<localRepository>``, else ``~/.m2/repository``."""
    root = _settings_root(path or settings_file())
    custom = root.findtext("localRepository") if root is not None else None
    return Path(_expand(custom)) if custom and custom.strip() else Path(os.path.expanduser("~/.m2/repository"))


def remote_repos() -> dict[str, str] | None:
    """The remote repositories jgo downloads from, as ``{name: base URL}``; None for jgo's default.

    A mirror (``KAFKABP_MAVEN_MIRROR``, else settings.xml's mirror of Central) is the only one, in
    Central's place as Maven's ``<mirrorOf>`` puts it; with no mirror jgo uses its own default
    repository, Maven Central, so kafkabp's code names no repository host.
    """
    if os.environ.get(MIRROR_ENV):
        return {"kafkabp-mirror": os.environ[MIRROR_ENV].rstrip("/")}
    mirror = settings_mirror()
    if mirror:
        return {mirror[1] or "mirror": mirror[0]}
    return None


def repository() -> tuple[str, str]:
    """``(base URL, where it came from)``: the mirror from the environment, from settings.xml, or Central.

    For messages and ``kafkabp doctor``'s probe; Maven Central's URL is jgo's default, read from jgo.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV].rstrip("/"), MIRROR_ENV
    mirror = settings_mirror()
    if mirror:
        return mirror[0], f"mirror {mirror[1] or mirror[0]} in {settings_file()}"
    return base_url(maven_context(Path(tempfile.gettempdir()), remote=None)), DEFAULT_SOURCE


def maven_context(repo_cache: Path, remote: dict[str, str] | None = None,
                  timeout: float = TIMEOUT_S) -> MavenContext:
    """A jgo Maven context that downloads into ``repo_cache`` from ``remote`` (None: jgo's default).

    ``repo_cache`` is a scratch repository, not ``~/.m2``: jgo writes a download straight to its final
    name there (a cut-off transfer leaves a partial file that jgo would later return as is), so kafkabp
    checks every file itself and deletes what fails; the user's ``~/.m2`` is only ever read.
    """
    from jgo.maven import MavenContext

    https.route_jgo()  # jgo's requests go through kafkabp's client: the system's trust store, then certifi's
    return MavenContext(repo_cache=repo_cache, remote_repos=remote, timeout=int(timeout))


def base_url(context: MavenContext) -> str:
    """The base URL of the repository ``context`` downloads from."""
    return next(iter(context.remote_repos.values())).rstrip("/")


def context_per_thread(repo_cache: Path, timeout: float = TIMEOUT_S) -> Callable[[], MavenContext]:
    """A function returning this thread's own jgo context (one per worker thread, made on first use).

    jgo's download path keeps no shared mutable state for a fixed-version artifact (one
    ``requests.get`` per file, no session), but a context per thread costs nothing and keeps it so.
    """
    local, remote = threading.local(), remote_repos()

    def get() -> MavenContext:
        ctx = getattr(local, "context", None)
        if ctx is None:
            ctx = local.context = maven_context(repo_cache, remote, timeout)
        return ctx

    return get


def maven_copy(mvn: str, dest: Path) -> None:
    """Resolve ``resources/pom.xml`` with Maven and copy the jars into ``dest`` (the fallback path)."""
    shutil.rmtree(dest, ignore_errors=True)
    pom = resources.files("kafkabp") / "resources" / "pom.xml"
    with resources.as_file(pom) as pom_path:
        cmd = [mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies", f"-DoutputDirectory={dest}"]
        log.info("resolving Apache Kafka %s jars with Maven (once)", KAFKA_VERSION)
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError("Maven took over 15 minutes to fetch Kafka's jars; check the network "
                              "or your ~/.m2/settings.xml mirror") from exc
    if out.returncode != 0 or not any(dest.glob("kafka_2.13-*.jar")):
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
        raise BrokerError(
            f"Maven could not fetch Apache Kafka {KAFKA_VERSION}'s jars (exit {out.returncode}):\n{tail}\n"
            "Check that Maven reaches Maven Central (or your mirror in ~/.m2/settings.xml), "
            "or set KAFKA_HOME to an unpacked Kafka distribution."
        )

