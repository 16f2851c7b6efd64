"""The wire of :class:`segur_ris.transport.HttpsTransport`: HTTP/1.1 keep-alive over stdlib
sockets and :mod:`ssl`, framed by ``h11`` (sans-IO).

Why not ``requests`` or :mod:`http.client`: per 100 KB POST over mutual TLS, ``requests`` costs
~1.75 ms CPU (proxy and netrc environment look-ups on every request) and ``http.client`` 0.66 ms
(its header parser goes through :mod:`email`, which compiles a new regular expression for every
``multipart/related`` answer carrying a fresh boundary: every MTOM answer of the DMP); ``h11``
framing on a plain socket costs ~0.4 ms. What the libraries did for us is done here, narrowly:

* a keep-alive pool per origin, thread-safe, LIFO (the most recently used socket is the least
  likely to have been closed by the server), idle sockets checked before reuse;
* the retry rule of Go's ``net/http`` for non-idempotent requests: one retry on a fresh
  connection only when a *reused* connection failed before any byte of the request was
  written. A POST is never replayed once sent (the server may have processed it; the outbox
  above decides);
* proxies: explicit, or the environment read once (``getproxies`` + ``no_proxy``); HTTPS goes
  through a ``CONNECT`` tunnel, plain HTTP in absolute form.

Errors are :class:`~segur_ris.errors.TransportError` / :class:`~segur_ris.errors.TransportTimeout`
whose messages never quote header values, bodies or proxy credentials.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import h11

from segur_ris.errors import ConfigError, TransportError, TransportTimeout

__all__ = ["Http11Client", "Proxy", "ProxyRoutes", "no_proxy_matches", "parse_proxy"]

_RECV_SIZE = 65536
_FIRST_WRITE = 16384  # one TLS record (see _send_all)
#: Largest response head accepted (h11's default, 16 KiB, is below what http.client accepts).
_MAX_HEAD = 65536
_URL_CACHE_SIZE = 256
_FORBIDDEN = frozenset("\r\n\0")
# framing and hop-by-hop headers belong to the transport: a caller's Upgrade, Connection,
# Expect or TE would change how the answer is framed (a 101 would end HTTP on the connection)
_DROPPED_REQUEST_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "expect",
        "te",
    }
)

_Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy; ``authorization`` is the ``Proxy-Authorization`` value (never shown)."""

    host: str
    port: int
    authorization: bytes | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """``http://host:port``, without the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """A :class:`Proxy` from ``http://[user:password@]host:port`` (scheme optional, as curl and
    ``requests`` accept; the port defaults to 80). Only ``http://`` proxies are supported."""
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        raise ConfigError("URL de proxy invalide (port ou syntaxe)") from None
    if parts.scheme.lower() != "http":
        raise ConfigError(f"proxy {parts.scheme}:// non pris en charge (seul http:// l'est)")
    if not parts.hostname:
        raise ConfigError("URL de proxy sans hôte")
    authorization = None
    if parts.username is not None:
        userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = b"Basic " + base64.b64encode(userinfo.encode("utf-8"))
    return Proxy(parts.hostname, port, authorization)


class ProxyRoutes:
    """Which proxy serves an origin: ``explicit`` for every origin, else (``trust_env``) the
    environment as :func:`urllib.request.getproxies` sees it, read once here.

    ``requests`` re-reads the environment (and ``.netrc``) on every request: most of its CPU
    cost. Here the decision per origin is computed once and cached.
    """

    def __init__(self, explicit: str | None, *, trust_env: bool) -> None:
        self._fixed: Proxy | None = None
        self._by_scheme: dict[str, Proxy] = {}
        self._no_proxy: str | None = None
        self._system_bypass = False
        self._cache: dict[tuple[str, str, int], Proxy | None] = {}
        if explicit is not None:
            self._fixed = parse_proxy(explicit)
            return
        if not trust_env:
            return
        from_env = urllib.request.getproxies_environment()
        proxies = from_env or urllib.request.getproxies()  # system settings (Windows, macOS)
        # without environment variables the bypass list is the system's (registry, SCDynamic)
        self._system_bypass = not from_env and bool(proxies)
        self._no_proxy = proxies.get("no")
        for scheme in ("http", "https", "all"):
            value = proxies.get(scheme)
            if value:
                try:
                    self._by_scheme[scheme] = parse_proxy(value)
                except ConfigError as exc:
                    raise ConfigError(
                        f"proxy de l'environnement ({scheme}_proxy) invalide: {exc.message}"
                    ) from None

    @property
    def display(self) -> str | None:
        """The explicit proxy without credentials (``None`` when none)."""
        return self._fixed.display if self._fixed else None

    def for_origin(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for ``scheme://host:port`` (``None``: connect directly)."""
        key = (scheme, host, port)
        try:
            return self._cache[key]
        except KeyError:
            pass
        proxy = self._resolve(scheme, host, port)
        self._cache[key] = proxy
        return proxy

    def _resolve(self, scheme: str, host: str, port: int) -> Proxy | None:
        if self._fixed is not None:
            return self._fixed
        proxy = self._by_scheme.get(scheme) or self._by_scheme.get("all")
        if proxy is None or self._bypassed(host, port):
            return None
        return proxy

    def _bypassed(self, host: str, port: int) -> bool:
        if self._system_bypass:
            return bool(urllib.request.proxy_bypass(host))
        return self._no_proxy is not None and no_proxy_matches(self._no_proxy, host, port)


def no_proxy_matches(no_proxy: str, host: str, port: int) -> bool:
    """Whether ``host:port`` is excluded by a ``no_proxy`` list, with curl's and urllib's
    semantics: ``*`` for all, ``example.org`` (or ``.example.org``) for that domain and its
    subdomains, an optional ``:port``, and (as curl and ``requests``, not urllib) IP addresses
    and CIDR networks, IPv6 included. Written here because urllib's matcher is undocumented
    and ignores networks."""
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, entry_port = entry, None
        if entry.startswith("["):  # [v6]:port
            name, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
            name, entry_port = entry.split(":")
        if entry_port and entry_port != str(port):
            continue
        if address is not None and ("/" in name or ":" in name or name[:1].isdigit()):
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            continue
        name = name.lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Target:
    """A parsed request URL and how to reach it."""

    key: _Key
    tls: bool
    host: str
    port: int
    authority: str  # host:port, IPv6 in brackets (CONNECT target)
    host_header: bytes
    request_target: bytes
    display: str  # the URL for messages, without userinfo
    proxy: Proxy | None


class _Connection:
    """A socket and its h11 state machine; used by one thread at a time."""

    __slots__ = ("h11", "keep", "reused", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self.reused = False  # taken from the pool (a retry on a fresh one is then allowed)
        self.keep = True  # False when h11's view is not the wire's (request cut short)

    def idle_and_clean(self) -> bool:
        """Whether the idle socket has nothing to read. A readable idle socket means the server
        closed it (EOF, TLS close_notify, reset) or sent bytes nobody asked for: unusable."""
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return False
        if sock.fileno() < 0:
            return False
        try:
            if _poll is not None:
                poller = _poll()
                poller.register(sock, select.POLLIN | select.POLLPRI)
                return not poller.poll(0)
            readable, _, errored = select.select([sock], [], [sock], 0)
        except (OSError, ValueError):
            return False
        return not readable and not errored

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


_poll = getattr(select, "poll", None)  # not on Windows: select() is used there


class _NothingWritten(Exception):
    """Writing the request failed before its first byte left (safe to retry elsewhere)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__()
        self.cause = cause


class _WriteFailed(Exception):
    """Writing the request failed after some bytes were sent."""

    def __init__(self, cause: OSError) -> None:
        super().__init__()
        self.cause = cause


class Http11Client:
    """HTTP/1.1 POSTs over a keep-alive pool (see the module docstring); ``post`` returns
    ``(status, headers, body)``. Thread-safe."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        routes: ProxyRoutes,
        max_connections: int,
        max_response_bytes: int,
        user_agent: str,
        peer_check: Callable[[ssl.SSLSocket, str], object] | None = None,
    ) -> None:
        self._context = ssl_context
        self._peer_check = peer_check
        self._routes = routes
        self._max_idle = max_connections
        self._max_body = max_response_bytes
        self._user_agent = user_agent.encode("ascii")
        self._idle: dict[_Key, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._targets: dict[str, _Target] = {}

    # --- public ---------------------------------------------------------------------------

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        target = self._target(url)
        request_headers = self._request_headers(target, len(body), headers)
        fresh = False
        for attempt in (1, 2):
            conn = self._checkout(target, timeout, fresh=fresh)
            try:
                status, response_headers, data = self._exchange(
                    conn, target, request_headers, body, timeout
                )
            except _NothingWritten as exc:
                conn.close()
                if conn.reused and attempt == 1:
                    fresh = True  # the pooled socket was dead: never reuse another one here
                    continue
                raise _transport_error(exc.cause, target.display, timeout) from None
            except BaseException:
                conn.close()
                raise
            self._checkin(target.key, conn)
            return status, response_headers, data
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the idle connections. The client stays usable (as a ``requests.Session``
        does after ``close``): connections in use go back to the pool afterwards."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()

    def idle_count(self) -> int:
        """Number of pooled idle connections (all origins)."""
        with self._lock:
            return sum(len(connections) for connections in self._idle.values())

    # --- URL and headers ------------------------------------------------------------------

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = self._parse(url)
            if len(self._targets) >= _URL_CACHE_SIZE:
                self._targets.clear()
            self._targets[url] = target
        return target

    def _parse(self, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise TransportError("URL invalide (port ou syntaxe)") from None
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        display = f"{scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        if parts.query:
            display += f"?{parts.query}"
        if scheme not in ("http", "https"):
            raise TransportError(f"schéma non pris en charge pour {display} (http ou https)")
        if not host:
            raise TransportError(f"URL sans hôte: {display}")
        if port is None:
            port = 443 if scheme == "https" else 80
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise TransportError(f"nom d'hôte invalide dans {display}") from None
        bracketed = f"[{host}]" if ":" in host else host
        authority = (
            bracketed if port == (443 if scheme == "https" else 80) else f"{bracketed}:{port}"
        )
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        if not path.isascii():
            path = quote(path, safe="/%:@!$&'()*+,;=?-._~")  # as browsers and requests do
        proxy = self._routes.for_origin(scheme, host, port)
        # plain HTTP through a proxy uses the absolute form; HTTPS goes through a tunnel
        target = f"http://{authority}{path}" if proxy is not None and scheme == "http" else path
        return _Target(
            key=(scheme, host, port),
            tls=scheme == "https",
            host=host,
            port=port,
            authority=f"{bracketed}:{port}",
            host_header=authority.encode("ascii"),
            request_target=target.encode("ascii"),
            display=display,
            proxy=proxy,
        )

    def _request_headers(
        self, target: _Target, length: int, headers: Mapping[str, str]
    ) -> list[tuple[bytes, bytes]]:
        """Host, User-Agent, the caller's headers (they win, except Host and the framing
        headers), Content-Length; Proxy-Authorization for plain HTTP through a proxy."""
        result: list[tuple[bytes, bytes]] = [(b"Host", target.host_header)]
        user_agent = True
        proxy = target.proxy
        # plain HTTP through a proxy: the proxy reads our request, so it gets the credentials
        proxy_authorization = proxy.authorization if proxy and not target.tls else None
        for name, value in headers.items():
            lower = name.lower()
            if lower in _DROPPED_REQUEST_HEADERS:
                continue
            if lower == "user-agent":
                user_agent = False
            elif lower == "proxy-authorization" and proxy_authorization is not None:
                continue  # the proxy URL's credentials are the ones the proxy gets
            if _FORBIDDEN & set(value) or _FORBIDDEN & set(name):
                # header injection; checked before connecting (h11 re-validates everything)
                raise TransportError(
                    f"requête invalide pour {target.display}: retour à la ligne ou NUL dans "
                    "un en-tête (valeur non reproduite)"
                )
            try:
                result.append((name.encode("ascii"), value.encode("latin-1")))
            except UnicodeEncodeError:
                # the value is not quoted: it may be a credential
                raise TransportError(
                    f"en-tête de requête {name.encode('ascii', 'replace').decode()!r} "
                    "non encodable (latin-1)"
                ) from None
        if user_agent:
            result.insert(1, (b"User-Agent", self._user_agent))
        result.append((b"Content-Length", str(length).encode("ascii")))
        if proxy_authorization is not None:
            result.append((b"Proxy-Authorization", proxy_authorization))
        return result

    # --- pool -----------------------------------------------------------------------------

    def _checkout(self, target: _Target, timeout: float | None, *, fresh: bool) -> _Connection:
        if not fresh:
            while True:
                with self._lock:
                    idle = self._idle.get(target.key)
                    conn = idle.pop() if idle else None
                if conn is None:
                    break
                if conn.idle_and_clean():
                    conn.reused = True
                    return conn
                conn.close()
        return self._open(target, timeout)

    def _checkin(self, key: _Key, conn: _Connection) -> None:
        """Pool ``conn`` if h11 says both sides may go on and nothing is left unread."""
        state = conn.h11
        if (
            conn.keep
            and state.our_state is h11.DONE
            and state.their_state is h11.DONE
            and not state.trailing_data[0]
        ):
            state.start_next_cycle()
            with self._lock:
                idle = self._idle.setdefault(key, [])
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
        conn.close()

    def _open(self, target: _Target, timeout: float | None) -> _Connection:
        proxy = target.proxy
        address = (proxy.host, proxy.port) if proxy is not None else (target.host, target.port)
        where = target.display if proxy is None else f"{target.display} (via {proxy.display})"
        try:
            sock = socket.create_connection(address, timeout)
        except TimeoutError:
            raise _timeout(target.display, timeout) from None
        except OSError as exc:
            raise TransportError(f"échec de connexion à {where}: {_reason(exc)}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.tls:
                if proxy is not None:
                    self._tunnel(sock, target, proxy)
                try:
                    sock = self._context.wrap_socket(sock, server_hostname=target.host)
                except TimeoutError:
                    raise _timeout(target.display, timeout) from None
                except OSError as exc:  # ssl.SSLError, or a reset during the handshake
                    raise TransportError(
                        f"échec TLS avec {target.display}: {_reason(exc)}"
                    ) from None
                if self._peer_check is not None:  # before any byte of the request is sent
                    self._peer_check(sock, target.host)
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise
        return _Connection(sock)

    def _tunnel(self, sock: socket.socket, target: _Target, proxy: Proxy) -> None:
        """``CONNECT host:port`` through ``proxy``; TLS to the origin follows inside it."""
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        authority = target.authority
        headers = [(b"Host", authority.encode()), (b"User-Agent", self._user_agent)]
        if proxy.authorization is not None:
            headers.append((b"Proxy-Authorization", proxy.authorization))
        where = f"{target.display} via {proxy.display}"
        try:
            sock.sendall(
                conn.send(h11.Request(method=b"CONNECT", target=authority, headers=headers))
                + conn.send(h11.EndOfMessage())
            )
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(sock.recv(_RECV_SIZE))
                elif isinstance(event, h11.Response):
                    response = event
                    break
                elif not isinstance(event, h11.InformationalResponse):
                    raise TransportError(f"le proxy n'a pas répondu au CONNECT pour {where}")
        except TimeoutError:
            raise TransportTimeout(f"délai dépassé pour le CONNECT de {where}") from None
        except OSError as exc:
            raise TransportError(f"échec de connexion à {where}: {_reason(exc)}") from None
        except h11.ProtocolError as exc:
            raise TransportError(
                f"réponse au CONNECT mal formée ({_h11_reason(exc)}) pour {where}"
            ) from None
        if not 200 <= response.status_code < 300:
            raise TransportError(
                f"le proxy {proxy.display} a refusé le tunnel vers {authority} "
                f"(HTTP {response.status_code})"
            )
        if conn.trailing_data[0]:
            raise TransportError(f"le proxy a envoyé des données avant TLS pour {where}")

    # --- one exchange ---------------------------------------------------------------------

    def _exchange(
        self,
        conn: _Connection,
        target: _Target,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout: float | None,
    ) -> tuple[int, dict[str, str], bytes]:
        sock, state = conn.sock, conn.h11
        try:
            head = state.send(
                h11.Request(method=b"POST", target=target.request_target, headers=headers)
            )
        except h11.LocalProtocolError:
            # h11's message quotes the offending value (maybe an Authorization): not repeated
            raise TransportError(
                f"requête invalide pour {target.display}: en-tête ou cible non conforme "
                "(caractères interdits)"
            ) from None
        pieces = state.send_with_data_passthrough(h11.Data(data=body)) if body else None
        end = state.send(h11.EndOfMessage())
        # one buffer, one write loop: the headers and the first bytes of the body share TLS
        # records and TCP segments (TCP_NODELAY is on)
        data = b"".join((head, *(pieces or ()), end))
        sock.settimeout(timeout)
        try:
            _send_all(sock, data)
        except _WriteFailed as exc:
            if isinstance(exc.cause, TimeoutError):
                raise _transport_error(exc.cause, target.display, timeout) from None
            # The server may have answered early (413, 401...) and closed without reading the
            # rest: its answer is still in our receive buffer. Like urllib3, read it.
            conn.keep = False  # h11 believes the whole request left: it did not
            try:
                return self._read_response(conn, target, timeout)
            except TransportError:
                raise _transport_error(exc.cause, target.display, timeout) from None
        return self._read_response(conn, target, timeout)

    def _read_response(
        self, conn: _Connection, target: _Target, timeout: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        sock, state = conn.sock, conn.h11
        response: h11.Response | None = None
        chunks: list[bytes] = []
        size = 0
        limit = self._max_body
        try:
            while True:
                event = state.next_event()
                if event is h11.NEED_DATA:
                    state.receive_data(sock.recv(_RECV_SIZE))
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > limit:
                        raise _too_large(target.display, limit)
                    chunks.append(event.data)
                elif isinstance(event, h11.Response):
                    response = event
                    declared = _content_length(response)
                    if declared is not None and declared > limit:
                        raise _too_large(target.display, limit)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise TransportError(f"connexion fermée par {target.display} avant la réponse")
                elif isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue, 103 Early Hints: skipped
                else:  # h11.PAUSED (a 101 switch of protocol): nothing more to read as HTTP
                    raise TransportError(
                        f"réponse HTTP inattendue de {target.display} (changement de protocole)"
                    )
        except OSError as exc:
            raise _transport_error(exc, target.display, timeout) from None
        except h11.RemoteProtocolError as exc:
            if response is None and state.trailing_data == (b"", True):
                raise TransportError(
                    f"connexion fermée par {target.display} sans réponse "
                    "(requête peut-être traitée)"
                ) from None
            raise TransportError(
                f"réponse HTTP mal formée de {target.display}: {_h11_reason(exc)}"
            ) from None
        assert response is not None  # EndOfMessage comes after a Response
        return response.status_code, _headers(response), b"".join(chunks)


def _send_all(sock: socket.socket, data: bytes) -> None:
    """``sendall`` that tells whether any byte left: :class:`_NothingWritten` when the first
    ``send`` fails (a retry cannot duplicate the request), :class:`_WriteFailed` after.

    An ``SSLSocket.send`` writes its whole buffer or raises, so after a failure the count of
    bytes already gone is unknown; hence a first ``send`` of one TLS record at most, which an
    idle connection's empty kernel buffer takes whole or not at all: when it raises, nothing
    left. The rest goes in one call (OpenSSL cuts it into records itself).
    """
    view = memoryview(data)
    total = 0
    length = len(view)
    while total < length:
        try:
            total += sock.send(view[total : total + _FIRST_WRITE] if total == 0 else view[total:])
        except OSError as exc:
            if total == 0 and not isinstance(exc, TimeoutError):
                raise _NothingWritten(exc) from None
            raise _WriteFailed(exc) from None


def _headers(response: h11.Response) -> dict[str, str]:
    """Names as received, repeated headers joined with ``", "`` (as ``requests`` does)."""
    result: dict[str, str] = {}
    lower_to_name: dict[str, str] = {}
    for raw_name, raw_value in response.headers.raw_items():
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        lower = name.lower()
        first = lower_to_name.get(lower)
        if first is None:
            lower_to_name[lower] = name
            result[name] = value
        else:
            result[first] = f"{result[first]}, {value}"
    return result


def _content_length(response: h11.Response) -> int | None:
    for name, value in response.headers:
        if name == b"content-length":
            return int(value)  # h11 validated it
    return None


def _too_large(url: str, limit: int) -> TransportError:
    return TransportError(f"réponse de {url} trop grande (plus de {limit} octets)")


def _timeout(url: str, timeout: float | None) -> TransportTimeout:
    return TransportTimeout(f"délai dépassé ({timeout or 0:g} s) pour {url}")


def _transport_error(exc: OSError, url: str, timeout: float | None) -> TransportError:
    if isinstance(exc, TimeoutError):
        return _timeout(url, timeout)
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"échec TLS avec {url}: {_reason(exc)}")
    return TransportError(f"échec de connexion à {url}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    return (str(exc) or exc.__class__.__name__)[:300]


def _h11_reason(exc: h11.ProtocolError) -> str:
    """h11's message up to the first quoted data (it may quote header values)."""
    text = str(exc)
    for marker in (":", " b'", ' b"', "{", "("):
        text = text.split(marker, 1)[0]
    return text.strip()[:80] or "données invalides"
