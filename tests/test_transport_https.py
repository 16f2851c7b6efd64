"""HttpsTransport (h11 keep-alive) against real peers on 127.0.0.1: the sandbox HTTPS server,
small raw HTTP servers for the framings and failures it cannot produce, and a CONNECT proxy."""

from __future__ import annotations

import base64
import contextlib
import io
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from segur_ris import __version__
from segur_ris._http11 import no_proxy_matches
from segur_ris.errors import ConfigError, TransportError, TransportTimeout
from segur_ris.sandbox import TestPki, generate_test_pki
from segur_ris.sandbox._server import HttpRequest, SandboxHttpsServer, server_tls_context
from segur_ris.sandbox._server import HttpResponse as ServerResponse
from segur_ris.transport import HttpsTransport
from tests.helpers_bench import run_benchmark

SECRET = "Bearer SECRET-VIHF-TOKEN-42"
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _echo(request: HttpRequest) -> ServerResponse:
    """Answer the reversed body and what the server saw of the request."""
    return ServerResponse(
        200,
        "application/octet-stream",
        request.body[::-1],
        {
            "X-Client-CN": request.client_cn or "",
            "X-Seen-UA": request.headers.get("user-agent", ""),
            "X-Seen-Host": request.headers.get("host", ""),
            "X-Seen-Length": request.headers.get("content-length", ""),
            "X-Seen-Custom": request.headers.get("x-custom", ""),
        },
    )


def _server_context(pki: TestPki) -> ssl.SSLContext:
    return server_tls_context(pki.server_cert, pki.server_key, pki.ca_cert)


def _transport(pki: TestPki, **kwargs: object) -> HttpsTransport:
    client = pki.clients["AUTRE"]
    return HttpsTransport(
        client_cert=(client.cert, client.key),
        ca_bundle=pki.ca_cert,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without proxy variables (the CI machine may have some)."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture()
def echo_server(pki: TestPki) -> Iterator[SandboxHttpsServer]:
    with SandboxHttpsServer(_echo, _server_context(pki), name="echo") as server:
        yield server


# --- small raw servers ----------------------------------------------------------------------


def read_request(reader: io.BufferedReader) -> tuple[bytes, bytes] | None:
    """(head, body) of the next request on ``reader``; ``None`` at end of stream."""
    head = reader.readline()
    if not head:
        return None
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        head += line
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, reader.read(length)


class RawServer:
    """A loopback server running ``serve(sock, reader, server)`` in a thread per connection
    (TLS when given a context); counts the connections it accepted."""

    def __init__(
        self,
        serve: Callable[[socket.socket, io.BufferedReader, RawServer], None],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._serve = serve
        self._tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.done = threading.Event()  # set by handlers when they want the test to go on
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self, path: str = "/service") -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _loop(self) -> None:
        self._listener.settimeout(0.05)  # closing a listener does not wake accept() on Linux
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                self.connections += 1
                self._sockets.append(sock)
            thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True)
                with self._lock:
                    self._sockets.append(sock)
            with sock.makefile("rb") as reader:
                self._serve(sock, reader, self)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def record(self, head: bytes) -> None:
        with self._lock:
            self.requests.append(head)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._accept.join(5)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()


def _ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def serve_forever(answer: Callable[[bytes, bytes], bytes]) -> Callable[..., None]:
    """A handler answering every request of the connection with ``answer(head, body)``."""

    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        while (request := read_request(reader)) is not None:
            server.record(request[0])
            sock.sendall(answer(*request))

    return serve


# --- mutual TLS, keep-alive, threads ---------------------------------------------------------


def test_mutual_tls_post_and_answer(pki: TestPki, echo_server: SandboxHttpsServer) -> None:
    headers = {"Content-Type": "application/soap+xml", "X-Custom": "v1", "Host": "evil"}
    with _transport(pki) as transport:
        response = transport.post(f"{echo_server.base_url}/insi", b"hello", headers, 5)
    assert response.status == 200
    assert response.body == b"olleh"
    assert echo_server.requests == [b"hello"]
    assert response.headers["X-Client-CN"] == pki.clients["AUTRE"].cn
    assert response.content_type == "application/octet-stream"
    # our Host and Content-Length win; the caller's other headers are sent; default UA
    assert response.headers["X-Seen-Host"] == f"127.0.0.1:{echo_server.address[1]}"
    assert response.headers["X-Seen-Length"] == "5"
    assert response.headers["X-Seen-Custom"] == "v1"
    assert response.headers["X-Seen-UA"] == f"segur-ris/{__version__}"
    assert "Content-Length" in response.headers  # names as received


def test_caller_user_agent_wins_and_non_2xx_is_returned(pki: TestPki) -> None:
    def fault(request: HttpRequest) -> ServerResponse:
        ua = request.headers.get("user-agent", "").encode()
        return ServerResponse(500, "application/soap+xml", b"<Fault>" + ua + b"</Fault>")

    with (
        SandboxHttpsServer(fault, _server_context(pki)) as server,
        _transport(pki) as transport,
    ):
        response = transport.post(server.base_url, b"x", {"user-agent": "RIS/2"}, 5)
    assert response.status == 500
    assert response.body == b"<Fault>RIS/2</Fault>"


def test_keep_alive_reuses_one_connection(pki: TestPki, echo_server: SandboxHttpsServer) -> None:
    handshakes: list[str] = []
    # counted on the server's handshakes (SNI callback: "localhost" is sent as server name)
    echo_server.tls_context.sni_callback = lambda sock, name, ctx: handshakes.append(str(name))
    url = f"https://localhost:{echo_server.address[1]}/dmp"
    with _transport(pki) as transport:
        for index in range(20):
            body = b"request-%d" % index
            assert transport.post(url, body, {}, 5).body == body[::-1]
    assert handshakes == ["localhost"]
    assert len(echo_server.requests) == 20


def test_threads_share_one_transport(pki: TestPki, echo_server: SandboxHttpsServer) -> None:
    handshakes: list[str] = []
    echo_server.tls_context.sni_callback = lambda sock, name, ctx: handshakes.append(str(name))
    url = f"https://localhost:{echo_server.address[1]}/dmp"
    errors: list[str] = []
    with _transport(pki) as transport:

        def worker(number: int) -> None:
            for index in range(25):
                body = b"thread-%d-request-%d-" % (number, index) + bytes(1000 * index)
                response = transport.post(url, body, {}, 10)
                if response.status != 200 or response.body != body[::-1]:
                    errors.append(f"{number}/{index}")

        _run_threads(worker, 8)
        assert 1 <= transport._client.idle_count() <= 8
    assert errors == []
    assert len(echo_server.requests) == 200
    assert 1 <= len(handshakes) <= 8  # at most one connection per thread, all kept


def test_idle_connections_kept_are_capped(pki: TestPki, echo_server: SandboxHttpsServer) -> None:
    results: list[bool] = []
    with _transport(pki, max_connections=2) as transport:

        def worker(number: int) -> None:
            for index in range(5):
                body = b"%d-%d" % (number, index)
                results.append(
                    transport.post(echo_server.base_url, body, {}, 10).body == body[::-1]
                )

        _run_threads(worker, 4)
        assert transport._client.idle_count() <= 2
    assert results == [True] * 20


def _run_threads(worker: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=worker, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


# --- framings --------------------------------------------------------------------------------


def test_chunked_answer_informational_and_repeated_headers(pki: TestPki) -> None:
    def answer(head: bytes, body: bytes) -> bytes:
        return (
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n"
            b"X-Multi: one\r\nx-multi: two\r\n\r\n"
            b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
        )

    with (
        RawServer(serve_forever(answer), _server_context(pki)) as server,
        _transport(pki) as transport,
    ):
        first = transport.post(server.url(), b"a", {}, 5)
        second = transport.post(server.url(), b"b", {}, 5)
    assert first.body == second.body == b"hello, world"
    assert first.headers["X-Multi"] == "one, two"
    assert first.headers["Transfer-Encoding"] == "chunked"
    assert server.connections == 1  # a chunked answer keeps the connection


def test_close_delimited_answer_over_plain_http() -> None:
    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        request = read_request(reader)
        assert request is not None
        server.record(request[0])
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        sock.shutdown(socket.SHUT_WR)

    with RawServer(serve) as server, HttpsTransport() as transport:
        first = transport.post(server.url("/crl"), b"", {}, 5)
        second = transport.post(server.url("/crl"), b"", {}, 5)
    assert first.body == second.body == b"until the end"
    assert server.connections == 2  # the end of the body closed the first connection
    assert server.requests[0].startswith(b"POST /crl HTTP/1.1\r\n")


def test_early_answer_while_sending_is_returned_over_plain_http() -> None:
    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        head = reader.readline()
        while reader.readline() not in (b"\r\n", b""):
            pass
        server.record(head)
        sock.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\n\r\nbig!")
        time.sleep(0.2)  # then close with the body unread: the client's writes fail

    with RawServer(serve) as server, HttpsTransport() as transport:
        response = transport.post(server.url(), b"x" * 30_000_000, {}, 10)
        assert transport._client.idle_count() == 0  # the request was cut short: not reusable
    assert (response.status, response.body) == (413, b"big!")


# --- stale connections and retries ----------------------------------------------------------


def test_idle_connection_closed_by_server_is_replaced(pki: TestPki) -> None:
    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        request = read_request(reader)
        assert request is not None
        server.record(request[0])
        sock.sendall(_ok())  # keep-alive announced, then the server closes while idle
        reader.close()
        sock.close()
        server.done.set()

    with (
        RawServer(serve, _server_context(pki)) as server,
        _transport(pki) as transport,
    ):
        assert transport.post(server.url(), b"1", {}, 5).body == b"ok"
        assert server.done.wait(5)
        time.sleep(0.05)  # the close_notify reaches the client's socket
        assert transport.post(server.url(), b"2", {}, 5).body == b"ok"
    assert server.connections == 2
    assert len(server.requests) == 2


def test_write_failure_on_reused_connection_is_retried_once(pki: TestPki) -> None:
    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        request = read_request(reader)
        assert request is not None
        server.record(request[0])
        sock.sendall(_ok())
        if server.connections == 1:
            server.stopping.wait(10)  # the first connection stays open, never read again
        else:
            read_request(reader)

    with (
        RawServer(serve, _server_context(pki)) as server,
        _transport(pki) as transport,
    ):
        assert transport.post(server.url(), b"1", {}, 5).body == b"ok"
        (pooled,) = transport._client._idle[("https", "127.0.0.1", server.port)]
        # our side of the pooled socket can no longer write; it is not readable, so only
        # the write (nothing sent) reveals it
        socket.socket.shutdown(pooled.sock, socket.SHUT_WR)
        assert pooled.idle_and_clean()
        assert transport.post(server.url(), b"2", {}, 5).body == b"ok"
    assert server.connections == 2
    assert len(server.requests) == 2


def test_failure_after_the_request_was_sent_is_not_retried(pki: TestPki) -> None:
    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        first = read_request(reader)
        assert first is not None
        server.record(first[0])
        sock.sendall(_ok())
        second = read_request(reader)
        if second is not None:
            server.record(second[0])  # processed... and the connection drops, no answer

    with (
        RawServer(serve, _server_context(pki)) as server,
        _transport(pki) as transport,
    ):
        assert transport.post(server.url(), b"1", {}, 5).body == b"ok"
        with pytest.raises(TransportError) as caught:
            transport.post(server.url(), b"2", {"Authorization": SECRET}, 5)
    assert "sans réponse" in str(caught.value)
    assert server.connections == 1  # no second attempt
    assert len(server.requests) == 2
    assert "SECRET" not in str(caught.value)


def test_write_failure_after_bytes_left_is_not_retried(pki: TestPki) -> None:
    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        first = read_request(reader)
        assert first is not None
        server.record(first[0])
        sock.sendall(_ok())
        server.record(reader.readline())  # the second request starts... and is cut short
        time.sleep(0.1)

    with (
        RawServer(serve, _server_context(pki)) as server,
        _transport(pki) as transport,
    ):
        assert transport.post(server.url(), b"1", {}, 5).body == b"ok"
        with pytest.raises(TransportError):
            transport.post(server.url(), b"2" * 30_000_000, {}, 10)
    assert server.connections == 1  # part of the request left: never sent again
    assert server.requests[1].startswith(b"POST /service")


def test_bytes_after_an_answer_do_not_answer_the_next_request(pki: TestPki) -> None:
    answers = iter([_ok(b"first") + _ok(b"forged"), _ok(b"second"), _ok(b"third")])

    def answer(head: bytes, body: bytes) -> bytes:
        return next(answers)

    with (
        RawServer(serve_forever(answer), _server_context(pki)) as server,
        _transport(pki) as transport,
    ):
        assert transport.post(server.url(), b"1", {}, 5).body == b"first"
        assert transport.post(server.url(), b"2", {}, 5).body == b"second"
    assert server.connections == 2  # the first connection was not trusted again


def test_read_timeout(pki: TestPki, echo_server: SandboxHttpsServer) -> None:
    with _transport(pki) as transport:
        echo_server.delay = 2.0
        started = time.monotonic()
        with pytest.raises(TransportTimeout, match="délai dépassé"):
            transport.post(echo_server.base_url, b"slow", {}, 0.3)
        assert time.monotonic() - started < 1.5
        echo_server.delay = 0.0
        assert transport.post(echo_server.base_url, b"fast", {}, 5).body == b"tsaf"


def test_connection_refused() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with HttpsTransport() as transport, pytest.raises(TransportError, match="échec de connexion"):
        transport.post(f"http://127.0.0.1:{port}/x", b"", {}, 5)


# --- TLS failures ----------------------------------------------------------------------------


def test_untrusted_server_certificate_and_no_system_ca(
    pki: TestPki,
    echo_server: SandboxHttpsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every variable that widens trust in OpenSSL, requests or curl points at the server's CA:
    # the transport must still trust its ca_bundle only
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(pki.ca_cert))
    monkeypatch.setenv("SSL_CERT_DIR", str(pki.ca_cert.parent))
    other = generate_test_pki(tmp_path / "other")
    client = pki.clients["AUTRE"]
    with HttpsTransport(client_cert=(client.cert, client.key), ca_bundle=other.ca_cert) as t:
        assert len(t.ssl_context.get_ca_certs()) == 1
        with pytest.raises(TransportError, match="échec TLS") as caught:
            t.post(echo_server.base_url, b"x", {}, 5)
    assert "certificate verify failed" in str(caught.value)
    assert echo_server.requests == []


def test_missing_client_certificate_is_refused(
    pki: TestPki, echo_server: SandboxHttpsServer
) -> None:
    with (
        HttpsTransport(ca_bundle=pki.ca_cert) as transport,
        pytest.raises(TransportError) as caught,
    ):
        transport.post(echo_server.base_url, b"x", {"Authorization": SECRET}, 5)
    assert "SECRET" not in str(caught.value)
    assert echo_server.requests == []


# --- malformed or oversize answers -----------------------------------------------------------


def test_oversize_answer(pki: TestPki) -> None:
    def big(request: HttpRequest) -> ServerResponse:
        return ServerResponse(200, "text/plain", b"x" * (2000 if request.body == b"big" else 10))

    with (
        SandboxHttpsServer(big, _server_context(pki)) as server,
        _transport(pki, max_response_bytes=1000) as transport,
    ):
        with pytest.raises(TransportError, match="trop grande"):
            transport.post(server.base_url, b"big", {}, 5)
        assert transport.post(server.base_url, b"small", {}, 5).body == b"x" * 10


def test_oversize_chunked_answer() -> None:
    chunk = b"%x\r\n%s\r\n" % (600, b"y" * 600)

    def answer(head: bytes, body: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n"

    with (
        RawServer(serve_forever(answer)) as server,
        HttpsTransport(max_response_bytes=1000) as transport,
        pytest.raises(TransportError, match="trop grande"),
    ):
        transport.post(server.url(), b"", {}, 5)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 2x0 SECRET-VIHF-TOKEN-42\r\nContent-Length: 0\r\n\r\n",
        b"SECRET-VIHF-TOKEN-42\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Bad SECRET-VIHF-TOKEN-42\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # then EOF
    ],
)
def test_malformed_answer(answer: bytes) -> None:
    def serve(sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        read_request(reader)
        sock.sendall(answer)
        sock.shutdown(socket.SHUT_WR)

    with (
        RawServer(serve) as server,
        HttpsTransport() as transport,
        pytest.raises(TransportError, match=r"mal formée|fermée") as caught,
    ):
        transport.post(server.url(), b"", {"Authorization": SECRET}, 5)
    assert "SECRET" not in str(caught.value)


def test_invalid_request_header_is_not_quoted() -> None:
    with (
        HttpsTransport() as transport,
        pytest.raises(TransportError, match="requête invalide") as caught,
    ):
        transport.post("http://127.0.0.1:9/x", b"", {"Authorization": SECRET + "\r\nX: y"}, 5)
    assert "SECRET" not in str(caught.value)


# --- proxies ---------------------------------------------------------------------------------


class ConnectProxy:
    """A tiny threaded HTTP proxy: records the request line and Proxy-Authorization, answers
    ``status`` to CONNECT and then pipes bytes both ways; answers plain requests itself."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.lines: list[str] = []
        self.authorizations: list[str | None] = []
        self._server = RawServer(self._serve)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def _serve(self, sock: socket.socket, reader: io.BufferedReader, server: RawServer) -> None:
        line = reader.readline().decode().strip()
        authorization = None
        length = 0
        while (header := reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            if name.lower() == "proxy-authorization":
                authorization = value.strip()
            elif name.lower() == "content-length":
                length = int(value)
        reader.read(length)
        self.lines.append(line)
        self.authorizations.append(authorization)
        if not line.startswith("CONNECT "):
            sock.sendall(_ok(b"from the proxy"))
            return
        if self.status != 200:
            sock.sendall(b"HTTP/1.1 %d Refused\r\nContent-Length: 0\r\n\r\n" % self.status)
            return
        host, _, port = line.split()[1].rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as upstream:
            sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pump = threading.Thread(target=_pipe, args=(upstream.recv, sock), daemon=True)
            pump.start()
            _pipe(reader.read1, upstream)
            pump.join(10)

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__()


def _pipe(read: Callable[[int], bytes], target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := read(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)


def test_explicit_connect_proxy_with_credentials(
    pki: TestPki, echo_server: SandboxHttpsServer
) -> None:
    port = echo_server.address[1]
    with ConnectProxy() as proxy:
        with _transport(pki, proxy=proxy.url.replace("://", "://ris:p%40ss-SECRET@")) as t:
            assert "SECRET" not in repr(t) and "ris" not in repr(t)
            assert proxy.url in repr(t)
            for body in (b"one", b"two"):
                response = t.post(f"{echo_server.base_url}/dmp", body, {}, 5)
                assert response.body == body[::-1]
                assert response.headers["X-Client-CN"] == pki.clients["AUTRE"].cn
        assert proxy.lines == [f"CONNECT 127.0.0.1:{port} HTTP/1.1"]  # one tunnel, kept alive
        expected = base64.b64encode(b"ris:p@ss-SECRET").decode()
        assert proxy.authorizations == [f"Basic {expected}"]


def test_proxy_from_environment_read_once_and_no_proxy(
    pki: TestPki, echo_server: SandboxHttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with _transport(pki) as transport:
            monkeypatch.delenv("HTTPS_PROXY")  # read at construction, not per request
            assert transport.post(echo_server.base_url, b"env", {}, 5).body == b"vne"
        assert proxy.lines == [f"CONNECT 127.0.0.1:{echo_server.address[1]} HTTP/1.1"]
        assert proxy.authorizations == [None]

        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "example.org,127.0.0.1")
        with _transport(pki) as transport:
            assert transport.post(echo_server.base_url, b"direct", {}, 5).body == b"tcerid"
        with _transport(pki, trust_env=False) as transport:
            monkeypatch.delenv("NO_PROXY")
            assert transport.post(echo_server.base_url, b"direct", {}, 5).body == b"tcerid"
        assert len(proxy.lines) == 1  # both went direct


def test_connect_refused_by_proxy(pki: TestPki, echo_server: SandboxHttpsServer) -> None:
    with (
        ConnectProxy(status=407) as proxy,
        _transport(pki, proxy=proxy.url.replace("://", "://u:SECRET@")) as transport,
        pytest.raises(TransportError, match="HTTP 407") as caught,
    ):
        transport.post(echo_server.base_url, b"x", {}, 5)
    assert "SECRET" not in str(caught.value)
    assert echo_server.requests == []


def test_plain_http_through_proxy_uses_absolute_form() -> None:
    with (
        ConnectProxy() as proxy,
        HttpsTransport(proxy=proxy.url.replace("://", "://u:pw@")) as transport,
    ):
        response = transport.post("http://crl.example.org:8080/ac.crl?x=1", b"q", {}, 5)
    assert response.body == b"from the proxy"
    assert proxy.lines == ["POST http://crl.example.org:8080/ac.crl?x=1 HTTP/1.1"]
    assert proxy.authorizations == ["Basic " + base64.b64encode(b"u:pw").decode()]


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("*", "dmp.fr", 443, True),
        ("example.org", "api.example.org", 443, True),
        (".example.org", "example.org", 443, True),
        ("example.org", "badexample.org", 443, False),
        ("example.org:8443", "example.org", 443, False),
        ("example.org:443", "example.org", 443, True),
        ("10.0.0.0/8, 192.168.1.1", "10.20.30.40", 80, True),
        ("10.0.0.0/8", "11.0.0.1", 80, False),
        ("::1", "::1", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("", "dmp.fr", 443, False),
    ],
)
def test_no_proxy_semantics(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    assert no_proxy_matches(no_proxy, host, port) is bypassed


# --- configuration ---------------------------------------------------------------------------


def test_configuration_errors(pki: TestPki, tmp_path: Path) -> None:
    client = pki.clients["AUTRE"]
    context = ssl.create_default_context()
    with pytest.raises(ConfigError, match="pas les deux"):
        HttpsTransport(ssl_context=context, ca_bundle=pki.ca_cert)
    with pytest.raises(ConfigError, match="introuvable"):
        HttpsTransport(client_cert=(client.cert, tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match="magasin de confiance"):
        HttpsTransport(ca_bundle=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="max_connections"):
        HttpsTransport(max_connections=-1)
    with pytest.raises(ConfigError) as caught:
        HttpsTransport(proxy="https://user:SECRET@proxy:3128")
    assert "SECRET" not in str(caught.value)
    with HttpsTransport() as transport, pytest.raises(TransportError, match="schéma"):
        transport.post("ftp://user:SECRET@host/x", b"", {}, 5)
    assert transport.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_a_context_that_would_not_verify_the_server_is_refused(pki: TestPki) -> None:
    """Nothing below HttpsTransport re-imposes verification (urllib3 does for requests)."""
    from segur_ris.tls import client_context

    lax = client_context(trust=pki.ca_cert, check_hostname=False)
    for context in (lax, ssl._create_unverified_context()):
        with pytest.raises(ConfigError, match="CERT_REQUIRED"):
            HttpsTransport(ssl_context=context)


def test_hop_by_hop_headers_of_the_caller_are_not_sent_and_101_is_an_error() -> None:
    def answer(head: bytes, body: bytes) -> bytes:
        return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"

    headers = {"Upgrade": "h2c", "Connection": "Upgrade", "Expect": "100-continue", "TE": "x"}
    with RawServer(serve_forever(answer)) as server, HttpsTransport() as transport:
        started = time.process_time()
        with pytest.raises(TransportError, match="réponse HTTP"):
            transport.post(server.url(), b"x", headers, 2)
        assert time.process_time() - started < 1.5  # no busy loop on h11's PAUSED state
    head = server.requests[0].lower()
    for name in (b"upgrade:", b"connection:", b"expect:", b"te:"):
        assert b"\r\n" + name not in head


def test_an_invalid_international_host_name_is_a_transport_error() -> None:
    with HttpsTransport() as transport, pytest.raises(TransportError, match="hôte invalide"):
        transport.post("https://\u00e9..example/x", b"", {}, 5)


def test_benchmark_runs() -> None:
    proc = run_benchmark("bench_http.py")
    assert "HttpsTransport (h11)" in proc.stdout and "RequestsTransport" in proc.stdout
