"""A small threaded HTTPS server on loopback, base of the national-service sandboxes.

Stdlib only (``http.server``, ``ssl``, ``threading``). The TLS handshake happens in the
connection's own thread (a slow or failing client never blocks ``accept``); the server records
the bodies it receives, can delay its answers, and stops cleanly: :meth:`stop` ends the accept
loop, closes live connections, joins every thread and frees the port.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from segur_ris.errors import ConfigError

__all__ = [
    "Handler",
    "HttpRequest",
    "HttpResponse",
    "SandboxHttpsServer",
    "server_tls_context",
]

_log = logging.getLogger("segur_ris.sandbox")

#: Largest request body accepted (bytes).
MAX_BODY = 1 << 20
_HANDSHAKE_TIMEOUT = 10.0
_IDLE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A received HTTP request. ``headers`` keys are lower case; ``client_cn`` is the CN of the
    verified client certificate (``None`` when the client presented none)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client_cn: str | None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An HTTP response to send."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[HttpRequest], HttpResponse]

_QUERY = re.compile(r"\?[^\s\"]*")


def server_tls_context(
    cert: str | Path, key: str | Path, ca: str | Path | None, *, require_client_cert: bool = True
) -> ssl.SSLContext:
    """A server TLS context: TLS >= 1.2, certificate ``cert``/``key``; when
    ``require_client_cert``, client certificates must chain to ``ca`` (``CERT_REQUIRED``)."""
    from segur_ris.tls import server_context

    return server_context(
        cert_file=cert, key_file=key, client_trust=ca, require_client_cert=require_client_cert
    )


def _peer_cn(sock: ssl.SSLSocket) -> str | None:
    peer = sock.getpeercert()
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for attribute in rdn:
            if attribute[0] == "commonName":
                return str(attribute[1])
    return None


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"un bac à sable n'écoute que sur la boucle locale, pas sur {host!r}")


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer wrapping each accepted socket in TLS, tracking live connections."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], owner: SandboxHttpsServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.owner = owner
        self.live: set[socket.socket] = set()
        self.live_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        tls = self.owner.tls_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        with self.live_lock:
            self.live.add(tls)
        return tls, address

    def shutdown_request(self, request: Any) -> None:
        with self.live_lock:
            self.live.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug(
            "%s: connection from %s ended abnormally",
            self.owner.name,
            client_address,
            exc_info=True,
        )

    def close_live_connections(self) -> None:
        with self.live_lock:
            live = list(self.live)
        for sock in live:
            # the raw socket shutdown wakes a thread blocked in SSL_read
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    request: ssl.SSLSocket
    protocol_version = "HTTP/1.1"
    # headers and body leave in separate writes: with Nagle on, the body waits for the
    # client's delayed ACK (40 ms per exchange on keep-alive connections)
    disable_nagle_algorithm = True
    server_version = "segur-ris-sandbox"
    sys_version = ""
    timeout = _IDLE_TIMEOUT

    def setup(self) -> None:
        self.request.settimeout(_HANDSHAKE_TIMEOUT)
        self.request.do_handshake()  # failures (no/untrusted client cert) end the connection
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        # a query string may carry tokens (id_token_hint…): log the path only
        line = _QUERY.sub("?…", format % args)
        _log.debug("%s: %s - %s", self.server.owner.name, self.address_string(), line)

    def _dispatch(self) -> None:
        owner = self.server.owner
        length_header = self.headers.get("Content-Length")
        if self.command == "POST" and length_header is None:
            self._send(HttpResponse(411, "text/plain; charset=utf-8", b"Content-Length requis\n"))
            return
        try:
            length = int(length_header or "0")
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._send(HttpResponse(413, "text/plain; charset=utf-8", b"corps trop grand\n"))
            return
        body = self.rfile.read(length) if length else b""
        request = HttpRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_cn=_peer_cn(self.request),
        )
        if request.method == "POST":
            owner.record(request)
        if owner.delay > 0 and owner.stopping.wait(owner.delay):
            self.close_connection = True
            return
        try:
            response = owner.handler(request)
        except Exception:
            _log.exception("%s: handler failed", owner.name)
            response = HttpResponse(500, "text/plain; charset=utf-8", b"erreur interne\n")
        self._send(response)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_POST = _dispatch
    do_GET = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch
    do_HEAD = _dispatch


class SandboxHttpsServer:
    """An HTTPS server on loopback serving ``handler`` in a background thread.

    Use it as a context manager or call :meth:`start` / :meth:`stop`. ``requests`` lists the
    bodies of the POST requests received, in arrival order, recorded before any delay;
    ``delay`` (seconds) is waited before each answer, so clients can test their timeouts.
    """

    def __init__(
        self,
        handler: Handler,
        tls_context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "sandbox",
    ) -> None:
        _check_loopback(host)
        self.handler = handler
        self.tls_context = tls_context
        self.host = host
        self.port = port
        self.name = name
        self.delay = 0.0
        self.requests: list[bytes] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def record(self, request: HttpRequest) -> None:
        """Keep the body of a received request (thread-safe)."""
        with self._lock:
            self.requests.append(request.body)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually bound; :class:`RuntimeError` when not started."""
        if self._server is None:
            raise RuntimeError(f"{self.name} n'est pas démarré")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def base_url(self) -> str:
        """``https://<host>:<port>`` of the running server."""
        host, port = self.address
        return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} est déjà démarré")
        self.stopping.clear()
        server = _Server((self.host, self.port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.name,
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        _log.debug("%s listening on %s", self.name, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, close live connections, join the threads and close the socket."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.stopping.set()
        server.shutdown()
        thread.join()
        server.close_live_connections()
        server.server_close()  # joins the connection threads
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
