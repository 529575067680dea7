"""The one HTTP client for Maven repositories: jar downloads (jgo's requests), the lock's checks, ``kafkabp doctor``.

It trusts what the operating system trusts, through PyPI's ``truststore`` as pip (>= 24.2) does: behind a
TLS-inspecting proxy whose root certificate is installed in the system's store only, downloads work with
``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE`` unset. certifi's bundle is loaded into the same context (the
fallback where the system store is empty, or where truststore cannot load); ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE``, when set, are added to it as requests adds them. Proxies come from ``HTTPS_PROXY`` as usual.

jgo (3.x) sends every request through ``jgo.util.http``, which calls ``requests.request``: :func:`route_jgo`
points that module at :func:`request`, so jgo and kafkabp's own probe make the same connections and, when the
certificate is not trusted, fail with the same words (:func:`problem`).
"""

from __future__ import annotations

import ssl
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # requests is imported on the first request: `kafkabp broker up` with cached jars never pays it
    import requests

TRUST_FIX = ("add the root certificate of your network's TLS proxy (or of your mirror) to the operating system's "
             "trust store, or name a PEM file holding it in SSL_CERT_FILE")

UNTRUSTED = "the server's TLS certificate is not trusted"
_local = threading.local()  # one SSL context per thread: truststore holds a lock around every TLS handshake
_generation = [0]


def ssl_context() -> ssl.SSLContext:
    """This thread's SSL context: the operating system's trust store (truststore) plus certifi's bundle."""
    if getattr(_local, "generation", None) != _generation[0]:
        import certifi

        try:
            import truststore

            ctx: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        except ImportError:  # truststore missing (a broken install): OpenSSL's default paths, then certifi
            ctx = ssl.create_default_context()
        ctx.load_verify_locations(certifi.where())
        _local.context, _local.generation = ctx, _generation[0]
    return _local.context


def forget_contexts() -> None:
    """Make every thread build a new context on its next request (certificates once loaded stay in a context)."""
    _generation[0] += 1


def session() -> requests.Session:
    """A requests session whose HTTPS connections verify with :func:`ssl_context`."""
    import requests
    from requests.adapters import HTTPAdapter

    class TrustStoreAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs, ssl_context=ssl_context())

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            return super().proxy_manager_for(proxy, **kwargs, ssl_context=ssl_context())

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)
            if verify is True:  # the context holds certifi already: do not reload its bundle per connection
                conn.ca_certs = None

    s = requests.Session()
    adapter = TrustStoreAdapter()
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


def request(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One request on a session of its own (what ``requests.request`` does, with :func:`ssl_context`)."""
    with session() as s:
        return s.request(method, url, **kwargs)


def get(url: str, timeout: float) -> requests.Response:
    """A GET that raises for an error status (``requests.HTTPError``) as for a network error."""
    response = request("GET", url, timeout=timeout, headers={"User-Agent": "kafkabp"})
    response.raise_for_status()
    return response


def _untrusted(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate-verification error somewhere under ``exc`` (requests wraps urllib3 wraps ssl), or None."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
        todo += [x for x in (*e.args, getattr(e, "reason", None), e.__cause__, e.__context__)
                 if isinstance(x, BaseException)]
    return None


def problem(exc: BaseException) -> str:
    """What went wrong in words, the same for a jar download and doctor's probe (an untrusted certificate
    names the fix); other errors as ``Type: message``."""
    untrusted = _untrusted(exc)
    if untrusted is not None:
        why = untrusted.verify_message or str(untrusted)
        return (f"{UNTRUSTED} ({why}): neither the operating system's trust store nor certifi's bundle holds "
                f"the CA that signed it; {TRUST_FIX}")
    return f"{type(exc).__name__}: {exc}"


class _RequestsThroughKafkabp:
    """``requests`` as jgo.util.http sees it: every attribute is requests', ``request`` is :func:`request`."""

    request = staticmethod(request)

    def __getattr__(self, name: str) -> Any:
        import requests

        return getattr(requests, name)


def route_jgo() -> None:
    """Send jgo's HTTP requests through :func:`request` (jgo 3's ``jgo.util.http`` calls ``requests.request``)."""
    from jgo.util import http as jgo_http

    if not isinstance(jgo_http.requests, _RequestsThroughKafkabp):
        jgo_http.requests = _RequestsThroughKafkabp()  # type: ignore[assignment]
