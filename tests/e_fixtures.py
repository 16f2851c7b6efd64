"""Helpers of the certificate tests: a local HTTP server (CRL, OCSP), a tiny OCSP responder,
a TLS echo server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp

from segur_ris.certificates import IgcTestPki, PrivateKey


@dataclass
class LocalHttp:
    """Routes served by :func:`local_http`: ``GET`` answers from ``files`` (404 when absent),
    ``POST`` goes to ``post`` (the OCSP responder)."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    post: Callable[[str, bytes], bytes] | None = None
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@contextmanager
def local_http() -> Iterator[LocalHttp]:
    """An HTTP server on 127.0.0.1 (ephemeral port) in a thread."""
    state = LocalHttp()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.hits.append(f"GET {self.path}")
            body = state.files.get(self.path)
            if body is None:
                self._answer(404, b"absent", "text/plain")
            else:
                self._answer(200, body, "application/pkix-crl")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.hits.append(f"POST {self.path}")
            if state.post is None:
                self._answer(404, b"absent", "text/plain")
            else:
                self._answer(200, state.post(self.path, body), "application/ocsp-response")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class OcspResponder:
    """A tiny OCSP responder of the test PKI: answers ``good`` unless the serial is in
    ``revoked`` or ``unknown``; signed by the delegated responder (default), the issuer
    (``delegated=False``) or, with ``forged``, by the root pretending to be a responder."""

    pki: IgcTestPki
    revoked: set[int] = field(default_factory=set)
    unknown: set[int] = field(default_factory=set)
    delegated: bool = True
    forged: bool = False
    status: ocsp.OCSPResponseStatus = ocsp.OCSPResponseStatus.SUCCESSFUL
    next_update: dt.timedelta = dt.timedelta(hours=1)
    age: dt.timedelta = dt.timedelta(minutes=1)

    def __call__(self, path: str, body: bytes) -> bytes:
        del path
        if self.status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(self.status).public_bytes(
                serialization.Encoding.DER
            )
        request = ocsp.load_der_ocsp_request(body)
        serial = request.serial_number
        subject = next(
            e.certificate
            for e in self.pki.entries.values()
            if e.certificate.serial_number == serial
        )
        now = dt.datetime.now(dt.UTC)
        if serial in self.revoked:
            status, when, reason = (
                ocsp.OCSPCertStatus.REVOKED,
                now - dt.timedelta(days=1),
                x509.ReasonFlags.key_compromise,
            )
        elif serial in self.unknown:
            status, when, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        else:
            status, when, reason = ocsp.OCSPCertStatus.GOOD, None, None
        responder = self.pki["ocsp-responder"]
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject,
            issuer=self.pki.intermediate,
            algorithm=hashes.SHA1(),
            cert_status=status,
            this_update=now - self.age,
            next_update=now - self.age + self.next_update,
            revocation_time=when,
            revocation_reason=reason,
        )
        key: PrivateKey
        if self.forged:
            builder = builder.responder_id(
                ocsp.OCSPResponderEncoding.HASH, self.pki.root
            ).certificates([self.pki.root])
            key = self.pki.root_key
        elif self.delegated:
            builder = builder.responder_id(
                ocsp.OCSPResponderEncoding.HASH, responder.certificate
            ).certificates([responder.certificate])
            key = responder.credential.private_key
        else:
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.pki.intermediate)
            key = self.pki.intermediate_key
        assert isinstance(key, rsa.RSAPrivateKey)
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass
class TlsServer:
    port: int
    peers: list[bytes | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    on_connect: Callable[[ssl.SSLSocket], None] | None = None


@contextmanager
def tls_server(context: ssl.SSLContext, *, http: bool = False) -> Iterator[TlsServer]:
    """A TLS server on 127.0.0.1: handshake, record the client certificate, send ``ok`` (or an
    HTTP 200 answer with ``http``), close."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    state = TlsServer(port=listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    state.peers.append(tls.getpeercert(binary_form=True))
                    if state.on_connect is not None:
                        state.on_connect(tls)
                    if http:
                        _read_http_request(tls)
                        tls.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        )
                    else:
                        tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                state.errors.append(str(exc))
            finally:
                conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _read_http_request(tls: ssl.SSLSocket) -> bytes:
    """Read a whole request (headers and ``Content-Length`` body): closing with unread bytes
    would reset the connection and lose the answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def tls_exchange(context: ssl.SSLContext, port: int, server_hostname: str = "127.0.0.1") -> bytes:
    """Connect, handshake, read everything the server sends."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        data = b""
        while chunk := tls.recv(1024):
            data += chunk
        return data
