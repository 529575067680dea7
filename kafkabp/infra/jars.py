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
   Central). jgo's requests go through :mod:`kafkabp.infra.https`: the operating system's trust store (then
   certifi's), proxies from the usual ``HTTPS_PROXY`` variables.
   Mirror credentials in ``settings.xml`` are not used: such a mirror works through the Maven fallback
   in :mod:`kafkabp.infra.maven`.

jgo downloads into a scratch Maven repository beside the cache directory (same file system); a jar is
renamed into the cache only once its size and SHA-256 match, so a partial or corrupt file never takes a
jar's name. A mismatch or a network error deletes the scratch file and fetches again (3 attempts), then
fails naming the artifact, the URL and what to do. The lock file is (re)generated with Maven:
``python -m kafkabp.infra.jars lock`` (:mod:`kafkabp.infra.lock`).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from kafkabp.infra import https
from kafkabp.infra.lock import THREADS, Jar, JarError, generate_lock, lock_digest, lock_path, read_lock, sha256_file
from kafkabp.infra.lock import write_lock
from kafkabp.infra.maven import (
    DEFAULT_SOURCE, MIRROR_ENV, base_url, context_per_thread, local_repository, maven_copy, repository,
)
from kafkabp.infra.paths import KAFKA_VERSION, BrokerError, log, state_dir

if TYPE_CHECKING:
    from jgo.maven import MavenContext

RETRIES = 3
MARKER = ".complete"  # holds the lock's digest once every jar in the directory verified against it

__all__ = ["DEFAULT_SOURCE", "MARKER", "MIRROR_ENV", "RETRIES", "Jar", "JarError", "Report", "download", "install",
           "is_complete", "kafka_libs", "read_lock", "verify"]


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


_verify = verify  # kafka_libs() takes a flag named verify


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
    url = f"{base_url(context)}/{jar.repo_path}"
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
            problem = https.problem(exc)
            if problem.startswith(https.UNTRUSTED):  # the next attempt meets the same certificate
                log.info("fetching %s failed: %s", url, problem)
                break
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
        context = context_per_thread(scratch)

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


def kafka_libs(resolve: bool = True, verify: bool = False) -> Path:
    """Directory of Apache Kafka's jars: ``$KAFKA_HOME/libs`` when set, else kafkabp's verified cache.

    The cache (``<state_dir>/kafka-<version>/libs``) is filled once from the lock file shipped with
    kafkabp (this module: parallel HTTPS, jars in ``~/.m2`` reused, every SHA-256 checked).
    If that fails and Maven is on PATH, Maven resolves the jars instead, checked against the same lock.
    A warm call checks the marker and sizes; ``verify`` hashes every jar too (about 0.1 s) and fetches
    again any that do not match.
    """
    if os.environ.get("KAFKA_HOME"):
        libs = Path(os.environ["KAFKA_HOME"]) / "libs"
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(
                f"KAFKA_HOME={os.environ['KAFKA_HOME']} is not an unpacked Apache Kafka distribution "
                "(no libs/kafka_2.13-*.jar). Fix KAFKA_HOME or unset it to let kafkabp fetch the jars."
            )
        return libs
    libs = state_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    if not resolve:
        return libs
    try:
        locked = read_lock(KAFKA_VERSION)
    except JarError as exc:
        raise BrokerError(str(exc)) from exc
    if is_complete(libs, locked):
        bad = _verify(libs, locked) if verify else []
        if not bad:
            return libs
        log.warning("cached Kafka jars fail their SHA-256, fetching them again: %s", ", ".join(bad))
        (libs / MARKER).unlink(missing_ok=True)
    try:
        report = install(libs, locked)
        log.info("Apache Kafka %s jars in %s: %s", KAFKA_VERSION, libs, report)
        return libs
    except JarError as exc:
        failure = exc
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError(
            f"Apache Kafka {KAFKA_VERSION}'s jars could not be fetched: {failure}\nCheck the network "
            f"(a proxy goes in HTTPS_PROXY), or set {MIRROR_ENV} to a Maven Central mirror (or add a "
            "<mirror> to ~/.m2/settings.xml), or set KAFKA_HOME to an unpacked Kafka distribution, or "
            "point KAFKA_BOOTSTRAP_SERVERS at a running broker."
        ) from failure
    log.warning("fetching Kafka's jars failed (%s); trying Maven", failure)
    tmp = libs.parent / "libs.maven"
    try:
        maven_copy(mvn, tmp)
        report = install(libs, locked, download_missing=False, extra_dirs=[tmp])
        log.info("Apache Kafka %s jars in %s: %s", KAFKA_VERSION, libs, report)
    except JarError as exc:
        raise BrokerError(f"Maven's copy of Kafka's jars does not match kafkabp's lock file: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return libs


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m kafkabp.infra.jars lock|fetch|verify``: regenerate the lock, fill or check a jar directory."""
    parser = argparse.ArgumentParser(prog="python -m kafkabp.infra.jars", description=__doc__.split("\n")[0])
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
