"""Apache Kafka's jars for the local broker, from a lock file: fetched in parallel, every byte verified.

Why not resolve with Maven each time? Maven walks the ~150 artifacts of Kafka's dependency tree one
after another (about 50 s from empty caches); the resolved tree never changes for a given Kafka version,
so kafkabp ships it as a lock file (``resources/kafka-<version>.lock``: Maven coordinates, SHA-256 and
size of each jar) and fetches just those jars, 16 at a time, from Maven Central through jgo (a Maven
client for Python, https://github.com/apposed/jgo): one ``Artifact.resolve()`` per locked jar, no
dependency resolution, 5-7 s for 56 MB on a loaded 2-core machine.

Where the bytes come from, in this order, each checked against the lock's SHA-256:

1. a jar already in the cache directory (kept when it verifies, deleted and fetched again when not);
2. the local Maven repository (``~/.m2/repository``, or ``<localRepository>`` in ``~/.m2/settings.xml``),
   read only: a copy there is used when it verifies, and never changed;
3. a download by jgo from ``KAFKABP_MAVEN_MIRROR`` if set, else from the first ``<mirror>`` in
   ``~/.m2/settings.xml`` whose ``<mirrorOf>`` covers ``central`` (``central``, ``*`` or ``external:*``),
   both passed to jgo as its only remote repository; else from jgo's own default repository (Maven
   Central). Proxies come from the usual ``HTTPS_PROXY`` variables (requests, under jgo, reads them).
   Mirror credentials in ``settings.xml`` are not used: such a mirror works through the Maven fallback
   in :mod:`kafkabp.broker`.

jgo downloads into a scratch Maven repository beside the cache directory (same file system); a jar is
renamed into the cache only once its size and SHA-256 match, so a partial or corrupt file never takes a
jar's name. A mismatch or a network error deletes the scratch file and fetches again (3 attempts), then
fails naming the artifact, the URL and what to do. The lock file is (re)generated with Maven:
``python -m kafkabp.jars lock``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

if TYPE_CHECKING:  # jgo (and requests under it) is imported only when something is downloaded:
    from jgo.maven import MavenContext  # a warm start never pays its ~0.15 s import

MIRROR_ENV = "KAFKABP_MAVEN_MIRROR"
DEFAULT_SOURCE = "Maven Central, through jgo"  # jgo's default repository, when no mirror is set
THREADS = 16
TIMEOUT_S = 15  # per connect / per read: a stalled server fails the attempt, not the whole fetch
RETRIES = 3
MARKER = ".complete"  # holds the lock's digest once every jar in the directory verified against it

log = logging.getLogger("kafkabp")


class JarError(RuntimeError):
    """A jar could not be found, fetched or verified; the message names the URL or file and a fix."""


@dataclass(frozen=True)
class Jar:
    """One locked artifact: Maven coordinates plus the SHA-256 and size its bytes must have."""

    group: str
    artifact: str
    version: str
    classifier: str
    sha256: str
    size: int

    @property
    def coordinates(self) -> str:
        """``group:artifact:version[:classifier]``, as written in the lock file."""
        return ":".join([self.group, self.artifact, self.version] + ([self.classifier] if self.classifier else []))

    @property
    def filename(self) -> str:
        """The name Maven's copy-dependencies gives it (``artifact-version[-classifier].jar``)."""
        return f"{self.artifact}-{self.version}" + (f"-{self.classifier}" if self.classifier else "") + ".jar"

    @property
    def repo_path(self) -> str:
        """Its path inside a Maven repository (remote URL suffix, or under ``~/.m2/repository``)."""
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"


@dataclass
class Report:
    """What :func:`install` did: counts per source, bytes downloaded, seconds, and the repository used.

    ``url`` is the repository's base URL, ``source`` says which one in words (a mirror, or Maven Central
    through jgo): the summary line names ``source``.
    """

    kept: int = 0
    from_m2: int = 0
    from_dirs: int = 0
    downloaded: int = 0
    bytes: int = 0
    seconds: float = 0.0
    url: str = ""
    source: str = ""
    refetched: list[str] = field(default_factory=list)  # jars in the cache that failed their checksum

    def __str__(self) -> str:
        parts = [f"{self.kept} already cached"] if self.kept else []
        parts += [f"{self.from_m2} from ~/.m2"] if self.from_m2 else []
        parts += [f"{self.from_dirs} from Maven's copy"] if self.from_dirs else []
        parts += [f"{self.downloaded} downloaded ({self.bytes / 1e6:.0f} MB from {self.source or self.url})"] if self.downloaded else []
        bad = f"; {len(self.refetched)} corrupt and replaced" if self.refetched else ""
        return f"{', '.join(parts) or 'nothing to do'}{bad}, all verified, in {self.seconds:.1f} s"


# --------------------------------------------------------------------------- the lock file


def lock_path(version: str) -> Path:
    """The lock file shipped for Kafka ``version`` (it may not exist for other versions)."""
    return Path(str(resources.files("kafkabp") / "resources" / f"kafka-{version}.lock"))


def read_lock(version: str) -> list[Jar]:
    """Parse ``kafka-<version>.lock``: one ``coordinates<TAB>sha256<TAB>size`` line per jar, # comments."""
    path = lock_path(version)
    if not path.exists():
        raise JarError(f"kafkabp ships no lock file for Kafka {version} ({path}); "
                       "run `python -m kafkabp.jars lock` to make one, or set KAFKA_HOME")
    jars = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        coords, sha, size = line.split("\t")
        group, artifact, ver, *classifier = coords.split(":")
        jars.append(Jar(group, artifact, ver, classifier[0] if classifier else "", sha, int(size)))
    return jars


def lock_digest(jars: Sequence[Jar]) -> str:
    """A digest of the locked set: the cache's marker holds it, so a new lock re-verifies the cache."""
    text = "\n".join(sorted(f"{j.coordinates} {j.sha256} {j.size}" for j in jars))
    return hashlib.sha256(text.encode()).hexdigest()


def write_lock(jars: Sequence[Jar], path: Path, version: str) -> None:
    """Write the lock file, sorted by coordinates so that a regenerated lock diffs cleanly."""
    lines = [
        f"# Apache Kafka {version}'s jars for kafkabp's local broker: coordinates, SHA-256, size in bytes.",
        "# Generated by `python -m kafkabp.jars lock` from kafkabp/resources/pom.xml (Maven resolves the tree",
        "# once; every SHA-1 was checked against the repository's own .sha1). Do not edit by hand.",
    ]
    lines += [f"{j.coordinates}\t{j.sha256}\t{j.size}" for j in sorted(jars, key=lambda j: j.coordinates)]
    path.write_text("\n".join(lines) + "\n")


def generate_lock(version: str, mvn: str = "mvn", check_remote: bool = True) -> list[Jar]:
    """Resolve ``resources/pom.xml`` with Maven into a scratch directory and describe every jar it brings.

    Maven is needed here only, by whoever updates the lock (not by learners). With ``check_remote``
    every jar's SHA-1 is compared with the ``.sha1`` file the repository publishes beside it (fetched
    through jgo from the same repository as the jars: the mirror, or Maven Central).
    """
    pom = resources.files("kafkabp") / "resources" / "pom.xml"
    with tempfile.TemporaryDirectory(prefix="kafkabp-lock-") as tmp, resources.as_file(pom) as pom_path:
        out = subprocess.run([mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies",
                              "-Dmdep.useRepositoryLayout=true", f"-DoutputDirectory={tmp}"],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise JarError(f"Maven failed (exit {out.returncode}):\n{(out.stdout + out.stderr)[-3000:]}")
        jars = []
        for path in sorted(Path(tmp).rglob("*.jar")):
            rel = path.relative_to(tmp).parts
            group, artifact, ver = ".".join(rel[:-3]), rel[-3], rel[-2]
            stem, prefix = path.name[:-4], f"{artifact}-{ver}"
            classifier = stem[len(prefix) + 1:] if stem != prefix else ""
            jars.append(Jar(group, artifact, ver, classifier, sha256_file(path), path.stat().st_size))

        def check(jar: Jar) -> None:
            sha1 = hashlib.sha1((Path(tmp) / jar.repo_path).read_bytes()).hexdigest()
            artifact = context().project(jar.group, jar.artifact).at_version(jar.version).artifact(
                jar.classifier, "jar.sha1")  # the published checksum is an artifact of its own to jgo
            url = f"{_base_url(context())}/{jar.repo_path}.sha1"
            try:
                published = artifact.resolve().read_text().split()[0].strip().lower()
            except (RuntimeError, OSError, IndexError) as exc:  # requests' errors are OSErrors
                raise JarError(f"could not fetch {url} through jgo: {exc}") from exc
            if published != sha1:
                raise JarError(f"{url} says SHA-1 {published}, Maven's copy has {sha1}")

        if check_remote:
            with tempfile.TemporaryDirectory(prefix="kafkabp-lock-jgo-") as scratch:
                context = _context_per_thread(Path(scratch))
                with ThreadPoolExecutor(THREADS) as pool:
                    list(pool.map(check, jars))
    if not any(j.artifact == "kafka_2.13" and j.version == version for j in jars):
        raise JarError(f"the pom did not bring kafka_2.13 {version}: check resources/pom.xml's kafka.version")
    return jars


# --------------------------------------------------------------------------- where jars come from


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
    return _base_url(maven_context(Path(tempfile.gettempdir()), remote=None)), DEFAULT_SOURCE


def maven_context(repo_cache: Path, remote: dict[str, str] | None = None,
                  timeout: float = TIMEOUT_S) -> MavenContext:
    """A jgo Maven context that downloads into ``repo_cache`` from ``remote`` (None: jgo's default).

    ``repo_cache`` is a scratch repository, not ``~/.m2``: jgo writes a download straight to its final
    name there (a cut-off transfer leaves a partial file that jgo would later return as is), so kafkabp
    checks every file itself and deletes what fails; the user's ``~/.m2`` is only ever read.
    """
    from jgo.maven import MavenContext

    return MavenContext(repo_cache=repo_cache, remote_repos=remote, timeout=int(timeout))


def _base_url(context: MavenContext) -> str:
    return next(iter(context.remote_repos.values())).rstrip("/")


def _context_per_thread(repo_cache: Path, timeout: float = TIMEOUT_S) -> Callable[[], MavenContext]:
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


_in_download = threading.local()  # .active: this thread is in download(), which checks the lock's SHA-256
_wrap_lock = threading.Lock()


def _skip_jgos_sha1_refetch_in_downloads() -> None:
    """Let jgo skip its second request per jar (for ``<jar>.sha1``) inside :func:`download` only.

    After each download jgo (3.2) fetches the published SHA-1 just to log a warning when it differs.
    :func:`download` checks every jar against the lock's SHA-256 instead (stronger, and it fails rather
    than warns), so that request is redundant, and it doubled the cold fetch here: 184 TLS connections
    instead of 92, each loading the CA bundle (median 12 s instead of 6.5 s for the 92 jars on a loaded
    2-core machine). This wraps jgo's private helper ``jgo.maven._resolver._verify_remote_sha1`` so that
    it returns at once in a thread inside :func:`download`; everywhere else it runs as before. A jgo
    without that helper is left as it is (downloads are then only slower).
    """
    from jgo.maven import _resolver

    with _wrap_lock:
        check = getattr(_resolver, "_verify_remote_sha1", None)
        if check is None or getattr(check, "kafkabp_wrapper", False):
            return

        def verify_remote_sha1(*args: object, **kwargs: object) -> None:
            if not getattr(_in_download, "active", False):
                check(*args, **kwargs)

        verify_remote_sha1.kafkabp_wrapper = True  # type: ignore[attr-defined]
        _resolver._verify_remote_sha1 = verify_remote_sha1


# --------------------------------------------------------------------------- verifying and fetching


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, jar: Jar) -> bool:
    try:
        return path.stat().st_size == jar.size and sha256_file(path) == jar.sha256
    except OSError:
        return False


def is_complete(libs: Path, jars: Sequence[Jar]) -> bool:
    """Cheap check for a warm start: the marker names this lock and every jar has its size.

    Contents were hashed when the marker was written; :func:`verify` hashes them again.
    """
    try:
        if (libs / MARKER).read_text().strip() != lock_digest(jars):
            return False
        return all((libs / j.filename).stat().st_size == j.size for j in jars)
    except OSError:
        return False


def verify(libs: Path, jars: Sequence[Jar]) -> list[str]:
    """Names of the locked jars in ``libs`` that are missing or whose SHA-256 differs (empty: all good)."""
    with ThreadPoolExecutor(4) as pool:
        ok = list(pool.map(lambda j: _matches(libs / j.filename, j), jars))
    return [j.filename for j, good in zip(jars, ok) if not good]


def _urlopen(url: str, timeout: float = TIMEOUT_S):  # noqa: ANN202 - http.client.HTTPResponse
    """A plain GET, for ``kafkabp doctor``'s one reachability probe (downloads go through jgo)."""
    request = urllib.request.Request(url, headers={"User-Agent": "kafkabp (python urllib)"})
    return urllib.request.urlopen(request, timeout=timeout)


def _place(tmp: Path, dest: Path, jar: Jar) -> bool:
    """Rename ``tmp`` to ``dest`` if it verifies (atomic on one file system), else delete it."""
    if _matches(tmp, jar):
        os.replace(tmp, dest)
        return True
    tmp.unlink(missing_ok=True)
    return False


def _tmp_name(dest: Path) -> Path:
    """A fresh temporary file beside ``dest`` (same file system, so the final rename is atomic)."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.fchmod(fd, 0o644)  # mkstemp makes 0600; jars are no secret
    os.close(fd)
    return Path(name)


def download(jar: Jar, dest: Path, context: MavenContext, retries: int = RETRIES) -> int:
    """Fetch ``jar`` with jgo into ``context``'s scratch repository, check it, and move it to ``dest``.

    ``context.repo_cache`` must be a scratch repository on ``dest``'s file system (the final rename is
    atomic; whatever fails its check is deleted from it). Returns the bytes placed. A jar that the
    repository does not serve (jgo: "not found", no answer 200) is not retried; a network error, a
    cut-off transfer or a size/SHA-256 mismatch is, ``retries`` attempts in all; then a
    :class:`JarError` names the artifact, the URL, the last problem and what to do.
    """
    _skip_jgos_sha1_refetch_in_downloads()
    url = f"{_base_url(context)}/{jar.repo_path}"
    artifact = context.project(jar.group, jar.artifact).at_version(jar.version).artifact(jar.classifier, "jar")
    scratch = context.repo_cache / jar.repo_path
    problem, fix = "", "check the network (a proxy goes in HTTPS_PROXY) or set KAFKABP_MAVEN_MIRROR to a mirror"
    for attempt in range(retries):
        if attempt:
            time.sleep(0.5 * 2 ** (attempt - 1))
        scratch.unlink(missing_ok=True)  # jgo returns a file already there as it is, even a partial one
        try:
            _in_download.active = True
            try:
                path = Path(artifact.resolve())
            finally:
                _in_download.active = False
            if path != scratch:  # not jgo's fresh download (it found a copy elsewhere): leave that one alone
                shutil.copyfile(path, scratch)
            size, digest = scratch.stat().st_size, sha256_file(scratch)
            if size == jar.size and digest == jar.sha256:
                os.replace(scratch, dest)
                return size
            problem = (f"got {size} bytes with SHA-256 {digest[:16]}…, the lock says {jar.size} bytes, "
                       f"{jar.sha256[:16]}…")
            fix = ("that repository serves other bytes than Maven Central (a captive portal, a broken mirror?): "
                   f"fix or unset {MIRROR_ENV} / the <mirror> in ~/.m2/settings.xml")
        except RuntimeError as exc:  # jgo: no remote repository answered 200 for this file
            problem = "not found (that repository has no such file, or answered with an error)"
            fix = f"point {MIRROR_ENV} (or the <mirror> in ~/.m2/settings.xml) at a full Maven Central mirror"
            log.debug("jgo: %s", exc)
            break
        except Exception as exc:  # noqa: BLE001 - requests' errors (time-outs, resets, cut-off transfers) and OSErrors
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            scratch.unlink(missing_ok=True)
        log.info("fetching %s failed (attempt %d of %d): %s", url, attempt + 1, retries, problem)
    raise JarError(f"could not fetch {jar.coordinates} from {url}: {problem}; {fix}")


@contextlib.contextmanager
def _dir_lock(libs: Path) -> Iterator[None]:
    """One installer per cache directory at a time, across processes."""
    with open(libs.parent / f".{libs.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _scratch_repository(libs: Path) -> Iterator[Path]:
    """An empty scratch Maven repository for jgo beside ``libs``, removed afterwards (call it under the lock).

    Beside ``libs`` so that a verified jar is renamed into place (same file system); scratch
    directories that a killed installer left behind are removed first.
    """
    prefix = f".{libs.name}.jgo-"
    for stale in libs.parent.glob(prefix + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(dir=libs.parent, prefix=prefix))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def install(libs: Path, jars: Sequence[Jar], *, download_missing: bool = True, extra_dirs: Sequence[Path] = (),
            m2: Path | None = None, threads: int = THREADS) -> Report:
    """Make ``libs`` hold exactly the locked jars, each verified; return what it took.

    Jars already in ``libs`` are hashed and kept when they match; others are copied from the local
    Maven repository or ``extra_dirs`` (flat directories, e.g. Maven's copy-dependencies output) when
    a copy there matches, else downloaded (unless ``download_missing`` is False). Files in ``libs``
    that the lock does not name are removed, so the classpath ``libs/*`` holds nothing else.
    """
    start = time.monotonic()
    libs.mkdir(parents=True, exist_ok=True)
    report = Report()
    m2 = m2 or local_repository()
    with _dir_lock(libs), _scratch_repository(libs) as scratch:
        if is_complete(libs, jars):
            return report
        (libs / MARKER).unlink(missing_ok=True)
        wanted = {j.filename for j in jars}
        for path in libs.iterdir():
            if path.is_file() and path.name != MARKER and path.name not in wanted:
                path.unlink()  # stale .part files, jars of an older lock
        context = _context_per_thread(scratch)

        def obtain(jar: Jar) -> tuple[str, int]:
            dest = libs / jar.filename
            if dest.exists():
                if _matches(dest, jar):
                    return "kept", 0
                dest.unlink()
                report.refetched.append(jar.filename)
            for source, kind in [(m2 / jar.repo_path, "m2"), *((d / jar.filename, "dirs") for d in extra_dirs)]:
                if source.is_file() and source.stat().st_size == jar.size:
                    tmp = _tmp_name(dest)
                    shutil.copyfile(source, tmp)
                    if _place(tmp, dest, jar):
                        return kind, 0
            if not download_missing:
                raise JarError(f"{jar.filename} is in no local copy ({m2}, {', '.join(map(str, extra_dirs))})")
            if given_up.is_set():  # one jar failed after its retries: the rest would likely wait as long
                return "skipped", 0
            try:
                return "downloaded", download(jar, dest, context())
            except JarError:
                given_up.set()
                raise

        given_up = threading.Event()
        errors: list[str] = []
        skipped = 0
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(obtain, j) for j in jars]
            for fut in futures:
                try:
                    kind, nbytes = fut.result()
                except (JarError, OSError) as exc:
                    errors.append(str(exc))
                    continue
                report.bytes += nbytes
                if kind == "skipped":
                    skipped += 1
                elif kind == "kept":
                    report.kept += 1
                elif kind == "m2":
                    report.from_m2 += 1
                elif kind == "dirs":
                    report.from_dirs += 1
                else:
                    report.downloaded += 1
        if errors or skipped:
            more = f"\n… and {len(errors) - 5} more" if len(errors) > 5 else ""
            untried = f" ({skipped} more not tried)" if skipped else ""
            raise JarError(f"{len(errors)} of {len(jars)} jars failed{untried}:\n" + "\n".join(errors[:5]) + more)
        (libs / MARKER).write_text(lock_digest(jars) + "\n")
    if report.downloaded:
        report.url, where = repository()
        report.source = where if where == DEFAULT_SOURCE else report.url
    report.seconds = time.monotonic() - start
    return report


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m kafkabp.jars lock|fetch|verify``: regenerate the lock, fill or check a jar directory."""
    from kafkabp.broker import KAFKA_VERSION

    parser = argparse.ArgumentParser(prog="python -m kafkabp.jars", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["lock", "fetch", "verify"])
    parser.add_argument("--version", default=KAFKA_VERSION, help="Kafka version (default %(default)s)")
    parser.add_argument("--dir", type=Path, default=None, help="jar directory (default: kafkabp's cache)")
    parser.add_argument("--mvn", default="mvn", help="Maven executable, for `lock`")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.action == "lock":
            jars = generate_lock(args.version, args.mvn)
            path = lock_path(args.version)
            write_lock(jars, path, args.version)
            print(f"wrote {path}: {len(jars)} jars, {sum(j.size for j in jars) / 1e6:.1f} MB")
            return 0
        if args.dir is None:
            from kafkabp.broker import state_dir

            args.dir = state_dir() / f"kafka-{args.version}" / "libs"
        jars = read_lock(args.version)
        if args.action == "fetch":
            print(f"{args.dir}: {install(args.dir, jars)}")
            return 0
        bad = verify(args.dir, jars)
        print(f"{args.dir}: " + (f"{len(bad)} missing or corrupt: {', '.join(bad)}" if bad else
                                 f"all {len(jars)} jars match the lock"))
        return 1 if bad else 0
    except JarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
