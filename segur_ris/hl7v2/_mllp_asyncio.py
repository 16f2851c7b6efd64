"""MLLP over asyncio: :class:`MllpServer` and :class:`MllpClient`, optionally over TLS.

Both sit on the sans-IO :class:`~segur_ris.hl7v2._mllp.MllpFramer`. The server hands each
received message to a handler and frames back the acknowledgement it returns; messages of one
connection are handled one at a time, in order, connections concurrently. The client sends a
message and waits for the single reply frame.

Message bodies hold patient data: they are never logged (logger ``segur_ris.hl7v2.mllp``), only
peers, sizes and exception classes.

Error codes of :class:`MllpError` raised here, besides the framer's: ``"connect"`` (the server
could not be reached or the TLS handshake failed), ``"connection_lost"`` (the connection broke
during an exchange; a server refusing the client certificate usually shows up this way under
TLS 1.3), ``"closed"`` (the client was closed), ``"timeout"`` (:class:`MllpTimeout`),
``"bind"`` (the server could not listen). Misconfiguration (non-loopback bind without
``allow_non_loopback``, non-positive timeouts) raises :class:`ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import ipaddress
import logging
import ssl as _ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from segur_ris.errors import ConfigError, MllpError, MllpTimeout
from segur_ris.hl7v2._mllp import DEFAULT_MAX_FRAME, MllpFramer, frame

__all__ = [
    "ErrorAck",
    "MllpClient",
    "MllpHandler",
    "MllpServer",
    "PeerInfo",
    "send_message",
    "serve_mllp",
]

_log = logging.getLogger("segur_ris.hl7v2.mllp")

_READ_SIZE = 64 * 1024
# Longest wait for a graceful close (TLS close_notify) before the transport is aborted.
_CLOSE_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """The remote end of a server connection. ``client_cn`` is the common name of the verified
    TLS client certificate, ``None`` without TLS or without a (verified) client certificate."""

    host: str
    port: int
    client_cn: str | None = None


#: Server handler: gets a message and its peer, returns the acknowledgement to send back.
#: Coroutine functions are awaited; plain functions run in the loop's default executor.
MllpHandler = Callable[[bytes, PeerInfo], Awaitable[bytes] | bytes]
#: Builds the acknowledgement sent when the handler raised (e.g. an ``AE`` ACK).
ErrorAck = Callable[[bytes, Exception], bytes]


def _check_timeout(name: str, value: float | None, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} doit être un nombre de secondes positif, pas {value!r}")


def _check_bind_host(host: str, allow_non_loopback: bool) -> str:
    """The address to bind: loopback only unless ``allow_non_loopback``."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    if allow_non_loopback:
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"le serveur MLLP n'écoute que sur la boucle locale, pas sur {host!r} "
            "(allow_non_loopback=True pour un déploiement réel)"
        )
    return host


def _client_cn(writer: asyncio.StreamWriter) -> str | None:
    peer = writer.get_extra_info("peercert")
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a stream gracefully, aborting it when the peer does not cooperate in time."""
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_GRACE):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except Exception:  # the connection is going away anyway
        pass


def _is_coroutine_callable(handler: object) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


# --- server ---------------------------------------------------------------------------------


class _Connection:
    """Book-keeping of one server connection (for :meth:`MllpServer.close`)."""

    __slots__ = ("busy", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.busy = False


class MllpServer:
    """An MLLP server. Create it with :meth:`start` (or :func:`serve_mllp`), stop it with
    :meth:`close` or ``async with``.

    * the handler result is framed back to the peer; if the handler raises (or returns
      something that cannot be framed), the failure is logged without the message and the
      ``error_ack`` result is sent when ``error_ack`` is given, else the connection is closed
      (the peer will resend);
    * a framing error (garbage, oversize) closes that connection only;
    * ``read_timeout``: a frame (or the write of its acknowledgement) not completed within
      that many seconds closes the connection; ``idle_timeout``: a connection without any
      frame for that long is closed. ``None`` disables either;
    * TLS: pass a server ``ssl.SSLContext``; whether client certificates are required is the
      context's business (``verify_mode``); the verified client CN is in :class:`PeerInfo`.
    """

    def __init__(
        self,
        handler: MllpHandler,
        *,
        read_timeout: float | None,
        idle_timeout: float | None,
        max_frame: int,
        error_ack: ErrorAck | None,
        max_connections: int = 256,
    ) -> None:
        self._handler = handler
        self._max_connections = max_connections
        self._handler_is_async = _is_coroutine_callable(handler)
        self._read_timeout = read_timeout
        self._idle_timeout = idle_timeout
        self._max_frame = max_frame
        self._error_ack = error_ack
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[Any], _Connection] = {}
        self._closing = False
        self._closed = asyncio.Event()
        self._host = ""
        self._port = 0

    @classmethod
    async def start(
        cls,
        handler: MllpHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl: _ssl.SSLContext | None = None,
        read_timeout: float | None = 30.0,
        idle_timeout: float | None = 300.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        error_ack: ErrorAck | None = None,
        allow_non_loopback: bool = False,
        backlog: int = 100,
        max_connections: int = 256,
    ) -> MllpServer:
        """Start listening on ``host:port`` (``port=0``: any free port, see :attr:`port`).

        Only loopback addresses are accepted (``"localhost"`` means ``127.0.0.1``) unless
        ``allow_non_loopback`` is true; otherwise :class:`ConfigError`. Connections beyond
        ``max_connections`` are closed at once (each may buffer up to ``max_frame`` bytes).
        """
        if max_connections < 1:
            raise ConfigError("max_connections doit être au moins 1")
        bind = _check_bind_host(host, allow_non_loopback)
        _check_timeout("read_timeout", read_timeout, optional=True)
        _check_timeout("idle_timeout", idle_timeout, optional=True)
        MllpFramer(max_frame)  # validates max_frame
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise ConfigError("ssl doit être un ssl.SSLContext serveur")
        server = cls(
            handler,
            read_timeout=read_timeout,
            idle_timeout=idle_timeout,
            max_frame=max_frame,
            error_ack=error_ack,
            max_connections=max_connections,
        )
        try:
            server._server = await asyncio.start_server(
                server._on_connection,
                bind,
                port,
                ssl=ssl,
                backlog=backlog,
                ssl_handshake_timeout=read_timeout if ssl is not None else None,
            )
        except OSError as exc:
            raise MllpError(
                f"impossible d'écouter sur {host}:{port}: {exc.strerror or exc}", code="bind"
            ) from None
        sockname = server._server.sockets[0].getsockname()
        server._host, server._port = str(sockname[0]), int(sockname[1])
        _log.info("MLLP server listening on %s:%d (tls=%s)", server._host, server._port, bool(ssl))
        return server

    @property
    def host(self) -> str:
        """The bound address."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the one chosen by the system when started with ``port=0``)."""
        return self._port

    @property
    def connection_count(self) -> int:
        """Number of open connections."""
        return len(self._connections)

    async def serve_forever(self) -> None:
        """Wait until :meth:`close` has completed (the server serves from :meth:`start` on)."""
        await self._closed.wait()

    async def close(self) -> None:
        """Stop accepting, close idle connections, let in-flight handlers finish (their
        acknowledgement is still sent), then close their connections. Idempotent."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # let connections accepted just before start their task
        while self._connections:
            for connection in self._connections.values():
                if not connection.busy:
                    # waiting for bytes, nothing in flight: wake the read by dropping the link
                    connection.writer.transport.abort()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await asyncio.sleep(0)
        if self._server is not None:
            await self._server.wait_closed()
        _log.info("MLLP server on %s:%d closed", self._host, self._port)
        self._closed.set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        peername = writer.get_extra_info("peername")
        peer = PeerInfo(
            host=str(peername[0]) if peername else "?",
            port=int(peername[1]) if peername else 0,
            client_cn=_client_cn(writer),
        )
        if len(self._connections) >= self._max_connections:
            _log.warning(
                "MLLP connection from %s refused: %d connections open",
                peer.host,
                len(self._connections),
            )
            await _close_writer(writer)
            return
        connection = _Connection(writer)
        self._connections[task] = connection
        _log.debug("MLLP connection from %s:%d (cn=%s)", peer.host, peer.port, peer.client_cn)
        try:
            if self._closing:
                return
            await self._serve(reader, connection, peer)
        except asyncio.CancelledError:
            # the loop is shutting down; asyncio.streams (3.11) reports a cancelled connection
            # task as an error, so end normally once the connection is closed
            pass
        except Exception as exc:  # never let one connection disturb the server
            _log.error(
                "MLLP connection from %s:%d failed: %s", peer.host, peer.port, type(exc).__name__
            )
        finally:
            del self._connections[task]
            await _close_writer(writer)
            _log.debug("MLLP connection from %s:%d closed", peer.host, peer.port)

    async def _serve(
        self, reader: asyncio.StreamReader, connection: _Connection, peer: PeerInfo
    ) -> None:
        loop = asyncio.get_running_loop()
        framer = MllpFramer(self._max_frame)
        frame_deadline: float | None = None  # when the partial frame must be complete
        while not self._closing:
            if framer.at_boundary:
                deadline = None if self._idle_timeout is None else loop.time() + self._idle_timeout
            else:
                deadline = frame_deadline
            try:
                async with asyncio.timeout_at(deadline):
                    data = await reader.read(_READ_SIZE)
            except TimeoutError:
                what = "idle" if framer.at_boundary else "partial frame not completed"
                _log.info("MLLP connection from %s:%d: %s, closing", peer.host, peer.port, what)
                return
            except OSError as exc:
                _log.info(
                    "MLLP connection from %s:%d lost: %s", peer.host, peer.port, type(exc).__name__
                )
                return
            if not data or self._closing:
                if not data and not framer.at_boundary:
                    _log.info(
                        "MLLP connection from %s:%d closed with %d bytes of an unfinished frame",
                        peer.host,
                        peer.port,
                        framer.pending_size,
                    )
                return
            was_at_boundary = framer.at_boundary
            try:
                messages = framer.feed(data)
            except MllpError as exc:
                _log.warning(
                    "MLLP connection from %s:%d: framing error (%s), closing",
                    peer.host,
                    peer.port,
                    exc.code,
                )
                return
            if not framer.at_boundary and (was_at_boundary or messages):
                frame_deadline = (
                    None if self._read_timeout is None else loop.time() + self._read_timeout
                )
            if not messages:
                continue
            connection.busy = True
            try:
                for message in messages:
                    # after close(), the rest of the batch is left to the peer to resend
                    if self._closing or not await self._answer(message, connection.writer, peer):
                        return
            finally:
                connection.busy = False

    async def _answer(self, message: bytes, writer: asyncio.StreamWriter, peer: PeerInfo) -> bool:
        """Handle one message and send its acknowledgement; False to close the connection."""
        try:
            reply = frame(await self._call_handler(message, peer))
        except Exception as exc:  # the handler is the caller's code
            # never log the exception text: it may quote the message (patient data)
            _log.warning(
                "MLLP handler failed on a %d-byte message from %s:%d: %s",
                len(message),
                peer.host,
                peer.port,
                type(exc).__name__,
            )
            if self._error_ack is None:
                return False
            try:
                reply = frame(self._error_ack(message, exc))
            except Exception as ack_exc:
                _log.warning(
                    "MLLP error_ack failed for %s:%d: %s",
                    peer.host,
                    peer.port,
                    type(ack_exc).__name__,
                )
                return False
        try:
            writer.write(reply)
            async with asyncio.timeout(self._read_timeout):
                await writer.drain()
        except TimeoutError:
            _log.info("MLLP connection from %s:%d: ACK not read in time", peer.host, peer.port)
            return False
        except OSError as exc:
            _log.info(
                "MLLP connection from %s:%d lost while sending the ACK: %s",
                peer.host,
                peer.port,
                type(exc).__name__,
            )
            return False
        return True

    async def _call_handler(self, message: bytes, peer: PeerInfo) -> bytes:
        result: Awaitable[bytes] | bytes
        if self._handler_is_async:
            result = self._handler(message, peer)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                None, functools.partial(self._handler, message, peer)
            )
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, bytes | bytearray | memoryview):
            raise TypeError(f"the MLLP handler returned {type(result).__name__}, not bytes")
        return bytes(result)


@contextlib.asynccontextmanager
async def serve_mllp(
    handler: MllpHandler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl: _ssl.SSLContext | None = None,
    read_timeout: float | None = 30.0,
    idle_timeout: float | None = 300.0,
    max_frame: int = DEFAULT_MAX_FRAME,
    error_ack: ErrorAck | None = None,
    allow_non_loopback: bool = False,
    backlog: int = 100,
    max_connections: int = 256,
) -> AsyncIterator[MllpServer]:
    """``async with serve_mllp(handler) as server:`` — :meth:`MllpServer.start`, closed on
    exit."""
    server = await MllpServer.start(
        handler,
        host,
        port,
        ssl=ssl,
        read_timeout=read_timeout,
        idle_timeout=idle_timeout,
        max_frame=max_frame,
        error_ack=error_ack,
        allow_non_loopback=allow_non_loopback,
        backlog=backlog,
        max_connections=max_connections,
    )
    try:
        yield server
    finally:
        await server.close()


# --- client ---------------------------------------------------------------------------------


class _ConnectionLost(Exception):
    """Internal: the connection broke; ``replied`` when part of the reply had arrived."""

    def __init__(self, replied: bool, cause: str) -> None:
        super().__init__(cause)
        self.replied = replied
        self.cause = cause


class MllpClient:
    """An MLLP client keeping one connection open (opened on the first :meth:`send`).

    :meth:`send` frames a message, writes it and returns the reply message. Concurrent calls
    are serialized (one exchange at a time on the connection). ``timeout`` bounds the
    connection (TCP + TLS handshake) and each exchange (write + complete reply): past it,
    :class:`MllpTimeout` and the connection is dropped (a late reply must not be taken for the
    next one). When the connection turns out to be lost before any reply byte arrived (e.g. the
    server closed an idle connection), the client reconnects once and resends; otherwise
    :class:`MllpError`. ``server_hostname`` overrides the name checked in the server
    certificate (default: ``host``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: _ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = 30.0,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        _check_timeout("timeout", timeout, optional=False)
        MllpFramer(max_frame)  # validates max_frame
        if ssl is None and server_hostname is not None:
            raise ConfigError("server_hostname n'a de sens qu'avec ssl")
        self.host = host
        self.port = port
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._timeout = float(timeout)
        self._max_frame = max_frame
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def connected(self) -> bool:
        """True while a connection is open (it may still have been closed by the peer)."""
        return self._writer is not None

    async def connect(self) -> None:
        """Open the connection now (otherwise the first :meth:`send` does)."""
        async with self._lock:
            self._check_open()
            await self._ensure_connected()

    async def send(self, message: bytes) -> bytes:
        """Send ``message`` (unframed bytes) and return the reply message (unframed bytes)."""
        data = frame(message)
        async with self._lock:
            self._check_open()
            for attempt in (1, 2):
                self._check_open()  # close() may have been called meanwhile
                await self._ensure_connected()
                try:
                    return await self._exchange(data)
                except asyncio.CancelledError:
                    # the caller gave up mid-exchange: a late reply must not be taken for the
                    # reply to the next message
                    self._abort()
                    raise
                except _ConnectionLost as lost:
                    await self._drop()
                    if lost.replied or attempt == 2:
                        raise MllpError(
                            f"connexion MLLP avec {self.host}:{self.port} perdue"
                            f"{' pendant la réponse' if lost.replied else ''}: {lost.cause}",
                            code="connection_lost",
                        ) from None
                    _log.info(
                        "MLLP connection to %s:%d lost before the reply (%s), resending once",
                        self.host,
                        self.port,
                        lost.cause,
                    )
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Close the connection; the client cannot be used afterwards. Idempotent."""
        self._closed = True
        await self._drop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise MllpError("client MLLP fermé", code="closed")

    async def _ensure_connected(self) -> None:
        if self._reader is not None and self._reader.at_eof():
            # the server closed the connection while we were idle: start afresh
            await self._drop()
        if self._writer is not None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname,
                    ssl_handshake_timeout=self._timeout if self._ssl is not None else None,
                )
        except TimeoutError:
            raise MllpTimeout(
                f"connexion MLLP à {self.host}:{self.port}: pas de réponse en {self._timeout} s",
                code="timeout",
            ) from None
        except (OSError, _ssl.SSLError) as exc:
            raise MllpError(
                f"connexion MLLP à {self.host}:{self.port} impossible: {_reason(exc)}",
                code="connect",
            ) from None
        self._reader, self._writer = reader, writer
        _log.debug("MLLP connected to %s:%d", self.host, self.port)

    async def _exchange(self, data: bytes) -> bytes:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        framer = MllpFramer(self._max_frame)
        received = 0
        try:
            async with asyncio.timeout(self._timeout):
                writer.write(data)
                await writer.drain()
                while True:
                    chunk = await reader.read(_READ_SIZE)
                    if not chunk:
                        raise _ConnectionLost(received > 0, "fermée par le serveur")
                    received += len(chunk)
                    replies = framer.feed(chunk)
                    if replies:
                        break
        except TimeoutError:
            await self._drop()
            raise MllpTimeout(
                f"MLLP: pas de réponse de {self.host}:{self.port} en {self._timeout} s",
                code="timeout",
            ) from None
        except MllpError:
            await self._drop()
            raise
        except (OSError, _ssl.SSLError) as exc:
            raise _ConnectionLost(received > 0, _reason(exc)) from None
        if len(replies) > 1 or not framer.at_boundary:
            # bytes beyond the reply: the stream is out of step, do not reuse it
            _log.warning(
                "MLLP: unexpected data after the reply from %s:%d, reconnecting next time",
                self.host,
                self.port,
            )
            await self._drop()
        return replies[0]

    def _abort(self) -> None:
        writer = self._writer
        self._reader = self._writer = None
        if writer is not None:
            writer.transport.abort()

    async def _drop(self) -> None:
        writer = self._writer
        self._reader = self._writer = None
        if writer is not None:
            await _close_writer(writer)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return repr(exc)


def send_message(
    host: str,
    port: int,
    message: bytes,
    *,
    ssl: _ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    timeout: float = 30.0,
) -> bytes:
    """Send one message on a fresh connection and return the reply (blocking).

    Runs its own event loop (``asyncio.run``): for scripts and command lines, not for code
    already running in an event loop (use :class:`MllpClient` there).
    """

    async def exchange() -> bytes:
        async with MllpClient(
            host, port, ssl=ssl, server_hostname=server_hostname, timeout=timeout
        ) as client:
            return await client.send(message)

    return asyncio.run(exchange())
