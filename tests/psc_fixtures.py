"""Helpers shared by the Pro Santé Connect test modules (engineer F)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segur_ris.psc import PscClient, PscConfig, tls_adapter
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._psc import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REDIRECT_URI,
    PscSandbox,
)


def sandbox_config(sandbox: PscSandbox, **options: Any) -> PscConfig:
    """The configuration of the default sandbox client."""
    values: dict[str, Any] = {
        "issuer": sandbox.issuer,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "redirect_uri": SANDBOX_REDIRECT_URI,
        "timeout": 10.0,
    }
    values.update(options)
    return PscConfig(**values)


def sandbox_client(sandbox: PscSandbox, pki: TestPki, **options: Any) -> PscClient:
    """A client of the sandbox trusting the test CA."""
    return PscClient(sandbox_config(sandbox, **options), trust=pki.ca_cert)


def rewriting_adapter(pki: TestPki, rewrite: Callable[[str, bytes], bytes]) -> Any:
    """A TLS adapter whose responses pass through ``rewrite(url, body)`` (a hostile network)."""
    inner = tls_adapter(trust=pki.ca_cert)
    original = inner.send

    def send(request: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(request, *args, **kwargs)
        body = response.content
        response._content = rewrite(str(request.url), body)
        return response

    inner.send = send  # type: ignore[method-assign]
    return inner


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 (port 0), counting the tunnels it opened."""

    def __init__(self) -> None:
        import socket
        import threading

        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.tunnels: list[str] = []
        self._threads: list[threading.Thread] = []
        self._open: list[Any] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._accept.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import contextlib
        import socket

        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._accept.join(5)
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)
        for sock in self._open:
            sock.close()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            self._open.append(client)
            thread = threading.Thread(target=self._tunnel, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _tunnel(self, client: Any) -> None:
        import socket
        import threading

        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        target = head.split(b" ")[1].decode()
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self._open.append(upstream)
        self.tunnels.append(target)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(source: Any, sink: Any) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                import contextlib

                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        self._threads.append(back)
        back.start()
        pipe(client, upstream)
