"""Behind a TLS-inspecting proxy: the jars download, and doctor's probe agrees, with the system's trust store only.

A local HTTPS Maven repository (tests/test_startup.py's fake one) answers with a certificate signed by a test CA
(PyPI's trustme). That CA is in an ``SSL_CERT_FILE`` store (what the operating system's store is to OpenSSL on
Linux) and not in certifi's bundle, and ``REQUESTS_CA_BUNDLE`` is unset, as on a laptop whose company root CA is
installed in the system only: the download succeeds. With the CA nowhere, the download and ``kafkabp doctor``'s
probe fail with the same words. The jars are small made-up ones: the lock's checks (size, SHA-256) are what a
real lock file gets (``Jar`` holds them).
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Iterator

import certifi
import pytest
import trustme
from test_startup import FakeRepo

from kafkabp import cli
from kafkabp.infra import https, jars, maven

CERT_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_repo(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRepo]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    repo = FakeRepo(tls=server)
    for name in CERT_VARIABLES + ("KAFKA_HOME", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy in the environment must not carry the local repository
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv(maven.MIRROR_ENV, repo.url)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # an empty ~/.m2
    monkeypatch.setenv("KAFKABP_HOME", str(tmp_path / "kafkabp"))  # no cached jars: doctor probes the repository
    https.forget_contexts()  # a context keeps what it once trusted
    yield repo
    https.forget_contexts()
    repo.server.shutdown()


def test_jars_download_when_the_ca_is_only_in_the_system_store(ca: trustme.CA, tls_repo: FakeRepo,
                                                                 tmp_path: Path, monkeypatch) -> None:
    assert ca.cert_pem.bytes().strip() not in Path(certifi.where()).read_bytes(), "the test CA is not in certifi"
    store = tmp_path / "system-store.pem"
    ca.cert_pem.write_to_path(str(store))
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    locked = [tls_repo.add("alpha", b"alpha" * 4000), tls_repo.add("beta", b"beta" * 9000)]
    report = jars.install(tmp_path / "libs", locked)
    assert report.downloaded == 2, report
    assert sorted(tls_repo.jar_requests) == sorted(j.repo_path for j in locked), "each jar asked for once, over TLS"
    assert jars.verify(tmp_path / "libs", locked) == [], "both jars are there and match their SHA-256"


def test_download_and_doctor_fail_alike_when_the_ca_is_nowhere(tls_repo: FakeRepo, tmp_path: Path,
                                                                 monkeypatch, capsys) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "empty.pem"))  # an empty system store: certifi only
    (tmp_path / "empty.pem").write_text("")
    locked = [tls_repo.add("alpha", b"alpha" * 4000)]
    with pytest.raises(jars.JarError) as failed:
        jars.install(tmp_path / "libs", locked)
    download = str(failed.value)
    assert tls_repo.jar_requests == [], "no TLS connection got as far as a request"
    monkeypatch.setattr(cli.shutil, "which", lambda name: None if name == "mvn" else "/usr/bin/" + name)
    monkeypatch.setattr(cli.jars, "read_lock", lambda version: locked)
    assert cli._jars_check(optional=False) is False
    doctor = capsys.readouterr().out
    said = re.search(re.escape(https.UNTRUSTED) + r" \([^)]*\)[^\n;]*", download)
    assert said, download
    assert said.group(0) in doctor and f"[FAIL] {tls_repo.url}/" in doctor, (download, doctor)
    assert https.TRUST_FIX in download and https.TRUST_FIX in doctor
    print(f"download: {download}\ndoctor: {doctor}")
    assert "[OK]" not in doctor.split("not fetched yet")[-1], doctor
