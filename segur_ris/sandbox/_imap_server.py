"""A small asyncio IMAP4rev1 server for the MSSanté sandbox (the mailboxes' read side).

Written here because no maintained Python IMAP *server* library exists (aiosmtpd is SMTP only;
dovecot would need root-owned configuration and system users in the tests). It implements what
an MSSanté client needs, as RFC 3501 says, and nothing more: ``CAPABILITY``, ``STARTTLS`` (no
authentication before it: ``LOGINDISABLED``), ``LOGIN``, ``AUTHENTICATE XOAUTH2 / PLAIN /
EXTERNAL`` (EXTERNAL = a verified TLS client certificate, the authorisation identity names the
mailbox), ``SELECT`` / ``EXAMINE`` of ``INBOX``, ``LIST``, ``SEARCH`` (``ALL``, ``SEEN``,
``UNSEEN``, ``UID set``, ``HEADER name value``, sequence sets), ``FETCH`` (``UID``, ``FLAGS``,
``RFC822``, ``RFC822.SIZE``, ``RFC822.HEADER``, ``BODY[]``, ``BODY[HEADER]``, ``BODY.PEEK[…]``),
``STORE`` (``+FLAGS``, ``-FLAGS``, ``FLAGS``, ``.SILENT``), the ``UID`` variants, ``NOOP``,
``CLOSE``, ``LOGOUT``. Messages are never expunged, so sequence numbers are stable.

:class:`MailboxStore` is the thread-safe store shared with the SMTP side.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import re
import ssl
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from urllib.parse import quote, unquote

__all__ = ["ImapServer", "MailboxStore", "StoredMessage"]

_log = logging.getLogger("segur_ris.sandbox.imap")

_MAX_LINE = 64 * 1024
_MAX_LITERAL = 1 << 20
_IDLE_TIMEOUT = 60.0
_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r?\n$")
_FETCH_ITEM = re.compile(
    r"BODY\.PEEK\[[^\]]*\]|BODY\[[^\]]*\]|RFC822\.SIZE|RFC822\.HEADER|RFC822|FLAGS|UID"
    r"|INTERNALDATE",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message of a sandbox mailbox: ``uid``, raw bytes and flags (``\\Seen``…)."""

    uid: int
    data: bytes
    flags: frozenset[str]

    @property
    def seen(self) -> bool:
        """Whether ``\\Seen`` is set."""
        return "\\Seen" in self.flags


@dataclass(slots=True)
class _Box:
    uid_validity: int
    next_uid: int = 1
    messages: list[tuple[int, bytes, set[str]]] = field(default_factory=list)


class MailboxStore:
    """Mailboxes keyed by address (case-insensitive), each one ``INBOX``; thread-safe.

    With ``directory``, every message is also written as ``<directory>/<address>/<uid>.eml``
    (flags in ``<uid>.flags``) and the store starts from what the directory holds, so a
    command-line sandbox keeps its mailboxes between runs.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._boxes: dict[str, _Box] = {}
        self._directory = Path(directory) if directory is not None else None
        if self._directory is not None:
            self._load(self._directory)

    def _folder(self, mailbox: str) -> Path | None:
        if self._directory is None:
            return None
        return self._directory / quote(mailbox.lower(), safe="@+-_")

    def _load(self, directory: Path) -> None:
        if not directory.is_dir():
            return
        for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
            box = self._box(unquote(folder.name))
            for eml in sorted(folder.glob("*.eml")):
                if not eml.stem.isdigit():
                    continue
                uid = int(eml.stem)
                flags_file = eml.with_suffix(".flags")
                flags = set(flags_file.read_text().split()) if flags_file.exists() else set()
                box.messages.append((uid, eml.read_bytes(), flags))
                box.next_uid = max(box.next_uid, uid + 1)

    def _save_flags(self, mailbox: str, uid: int, flags: set[str]) -> None:
        folder = self._folder(mailbox)
        if folder is not None:
            (folder / f"{uid:08d}.flags").write_text(" ".join(sorted(flags)))

    def _box(self, mailbox: str) -> _Box:
        key = mailbox.lower()
        box = self._boxes.get(key)
        if box is None:
            box = self._boxes[key] = _Box(uid_validity=len(self._boxes) + 1)
        return box

    def deliver(self, mailbox: str, data: bytes) -> int:
        """Append ``data`` to ``mailbox`` (created on first use); returns its UID."""
        with self._lock:
            box = self._box(mailbox)
            uid = box.next_uid
            box.next_uid += 1
            box.messages.append((uid, data, set()))
            folder = self._folder(mailbox)
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{uid:08d}.eml").write_bytes(data)
            return uid

    def messages(self, mailbox: str) -> tuple[StoredMessage, ...]:
        """Snapshot of ``mailbox`` in arrival order (empty when unknown)."""
        with self._lock:
            box = self._boxes.get(mailbox.lower())
            if box is None:
                return ()
            return tuple(StoredMessage(u, d, frozenset(f)) for u, d, f in box.messages)

    def mailboxes(self) -> tuple[str, ...]:
        """Addresses that received something."""
        with self._lock:
            return tuple(self._boxes)

    def uid_validity(self, mailbox: str) -> int:
        with self._lock:
            return self._box(mailbox).uid_validity

    def update_flags(self, mailbox: str, uid: int, flags: Iterable[str], mode: str) -> None:
        """``mode``: ``+`` adds, ``-`` removes, anything else replaces."""
        with self._lock:
            for message_uid, _data, current in self._box(mailbox).messages:
                if message_uid == uid:
                    if mode == "+":
                        current.update(flags)
                    elif mode == "-":
                        current.difference_update(flags)
                    else:
                        current.clear()
                        current.update(flags)
                    self._save_flags(mailbox, uid, current)

    def clear(self) -> None:
        """Forget every mailbox."""
        with self._lock:
            self._boxes.clear()


class _Bad(Exception):
    """A command answered ``BAD`` (syntax) or ``NO`` (refused)."""

    def __init__(self, text: str, *, status: str = "BAD") -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class _Literal(bytes):
    """A literal token (kept apart from atoms)."""


def _tokens(line: bytes, literals: list[bytes]) -> list[object]:
    """Atoms, quoted strings, literals (``\\x00<n>\\x00`` markers) and parenthesised lists."""
    stack: list[list[object]] = [[]]
    i, n = 0, len(line)
    while i < n:
        char = line[i : i + 1]
        if char == b" ":
            i += 1
        elif char == b"(":
            stack.append([])
            i += 1
        elif char == b")":
            if len(stack) == 1:
                raise _Bad("parenthèse fermante inattendue")
            inner = stack.pop()
            stack[-1].append(inner)
            i += 1
        elif char == b'"':
            out = bytearray()
            i += 1
            while i < n and line[i : i + 1] != b'"':
                if line[i : i + 1] == b"\\":
                    i += 1
                out += line[i : i + 1]
                i += 1
            if i >= n:
                raise _Bad("chaîne non terminée")
            stack[-1].append(bytes(out))
            i += 1
        elif char == b"\x00":
            end = line.index(b"\x00", i + 1)
            stack[-1].append(_Literal(literals[int(line[i + 1 : end])]))
            i = end + 1
        else:
            match = re.compile(rb"[^ ()\x00\"]+").match(line, i)
            assert match is not None
            stack[-1].append(match.group(0))
            i = match.end()
    if len(stack) != 1:
        raise _Bad("parenthèse non fermée")
    return stack[0]


def _string(token: object) -> str:
    if isinstance(token, bytes):
        return token.decode("utf-8", "replace")
    raise _Bad("chaîne attendue")


def _sequence(spec: str, values: list[int]) -> list[int]:
    """Positions (0-based) in ``values`` (sorted numbers) matched by an IMAP sequence set."""
    top = values[-1] if values else 0
    wanted: list[tuple[int, int]] = []
    for part in spec.split(","):
        low_text, _, high_text = part.partition(":")
        try:
            low = top if low_text == "*" else int(low_text)
            high = low if not high_text else (top if high_text == "*" else int(high_text))
        except ValueError:
            raise _Bad(f"ensemble de messages invalide: {spec}") from None
        wanted.append((min(low, high), max(low, high)))
    return [i for i, v in enumerate(values) if any(lo <= v <= hi for lo, hi in wanted)]


def _ascii(text: str) -> bytes:
    """IMAP responses are ASCII: the French texts lose their accents."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Session:
    """One IMAP connection."""

    def __init__(
        self, server: ImapServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.tls = False
        self.user: str | None = None
        self.selected: str | None = None
        self.read_only = False

    # --- I/O --------------------------------------------------------------------------------

    async def send(self, *chunks: bytes | str) -> None:
        for chunk in chunks:
            self.writer.write(_ascii(chunk) if isinstance(chunk, str) else chunk)
        await self.writer.drain()

    async def read_line(self) -> bytes:
        line = await asyncio.wait_for(self.reader.readline(), _IDLE_TIMEOUT)
        if len(line) > _MAX_LINE:
            raise ConnectionError("ligne trop longue")
        return line

    async def read_command(self) -> tuple[bytes, list[bytes]] | None:
        """A command line with its literals replaced by markers."""
        line = await self.read_line()
        if not line:
            return None
        literals: list[bytes] = []
        while (match := _LITERAL.search(line)) is not None:
            size = int(match.group(1))
            if size > _MAX_LITERAL:
                raise ConnectionError("littéral trop grand")
            if not match.group(2):
                await self.send("+ Ready\r\n")
            data = await asyncio.wait_for(self.reader.readexactly(size), _IDLE_TIMEOUT)
            line = line[: match.start()] + b"\x00%d\x00" % len(literals) + await self.read_line()
            literals.append(data)
        return line.rstrip(b"\r\n"), literals

    # --- dispatch ---------------------------------------------------------------------------

    def capabilities(self) -> str:
        if not self.tls:
            return "IMAP4rev1 STARTTLS LOGINDISABLED"
        return "IMAP4rev1 AUTH=XOAUTH2 AUTH=PLAIN AUTH=EXTERNAL UIDPLUS"

    async def run(self) -> None:
        await self.send(f"* OK [CAPABILITY {self.capabilities()}] segur-ris sandbox IMAP\r\n")
        while True:
            command = await self.read_command()
            if command is None:
                return
            line, literals = command
            tag_bytes, _, rest = line.partition(b" ")
            tag = tag_bytes.decode("ascii", "replace")
            if not tag or not rest:
                await self.send(f"{tag or '*'} BAD commande vide\r\n")
                continue
            name_bytes, _, args = rest.partition(b" ")
            name = name_bytes.decode("ascii", "replace").upper()
            try:
                done = await self.dispatch(tag, name, args, literals)
            except _Bad as exc:
                await self.send(f"{tag} {exc.status} {exc.text}\r\n")
                continue
            except (ValueError, LookupError, TypeError, UnicodeError) as exc:
                # malformed input the parsers did not foresee: answer BAD, keep the session
                # (only the class is logged: the message could quote a LOGIN password)
                _log.debug("IMAP command refused (%s)", exc.__class__.__name__)
                await self.send(f"{tag} BAD commande invalide\r\n")
                continue
            if done:
                return

    async def dispatch(self, tag: str, name: str, args: bytes, literals: list[bytes]) -> bool:
        if name == "CAPABILITY":
            await self.send(f"* CAPABILITY {self.capabilities()}\r\n{tag} OK CAPABILITY\r\n")
        elif name == "NOOP":
            await self.send(f"{tag} OK NOOP\r\n")
        elif name == "LOGOUT":
            await self.send(f"* BYE au revoir\r\n{tag} OK LOGOUT\r\n")
            return True
        elif name == "STARTTLS":
            await self.starttls(tag)
        elif not self.tls:
            raise _Bad("[PRIVACYREQUIRED] STARTTLS d'abord", status="NO")
        elif name == "LOGIN":
            self.login(tag, _tokens(args, literals))
            await self.send(f"{tag} OK [CAPABILITY {self.capabilities()}] LOGIN\r\n")
        elif name == "AUTHENTICATE":
            await self.authenticate(tag, _tokens(args, literals))
        elif self.user is None:
            raise _Bad("authentification requise", status="NO")
        elif name in ("SELECT", "EXAMINE"):
            await self.select(tag, name, _tokens(args, literals))
        elif name == "LIST":
            await self.send(f'* LIST () "/" INBOX\r\n{tag} OK LIST\r\n')
        elif name == "CLOSE":
            self.selected = None
            await self.send(f"{tag} OK CLOSE\r\n")
        elif self.selected is None:
            raise _Bad("aucune boîte sélectionnée", status="NO")
        elif name == "UID":
            sub, _, sub_args = args.partition(b" ")
            await self.messages(
                tag, sub.decode("ascii", "replace").upper(), sub_args, literals, True
            )
        else:
            await self.messages(tag, name, args, literals, False)
        return False

    async def starttls(self, tag: str) -> None:
        if self.tls:
            raise _Bad("TLS déjà actif")
        await self.send(f"{tag} OK Begin TLS negotiation now\r\n")
        await self.writer.start_tls(self.server.tls_context)
        self.tls = True

    def _peer_has_certificate(self) -> bool:
        return bool(self.writer.get_extra_info("peercert"))

    def login(self, tag: str, tokens: list[object]) -> None:
        if len(tokens) != 2:
            raise _Bad("LOGIN utilisateur mot-de-passe")
        user, password = _string(tokens[0]), _string(tokens[1])
        if not self.server.check_password(user, password):
            raise _Bad("[AUTHENTICATIONFAILED] identifiants refusés", status="NO")
        self.user = user

    async def authenticate(self, tag: str, tokens: list[object]) -> None:
        if self.user is not None:
            raise _Bad("déjà authentifié")
        if not tokens:
            raise _Bad("AUTHENTICATE mécanisme")
        mechanism = _string(tokens[0]).upper()
        if mechanism not in ("XOAUTH2", "PLAIN", "EXTERNAL"):
            raise _Bad("mécanisme inconnu", status="NO")
        if len(tokens) > 1:
            blob_text = _string(tokens[1])
        else:
            await self.send("+ \r\n")
            blob_text = (await self.read_line()).strip().decode("ascii", "replace")
        if blob_text == "*":
            raise _Bad("authentification abandonnée")
        try:
            blob = base64.b64decode(blob_text, validate=True) if blob_text != "=" else b""
        except (binascii.Error, ValueError):
            raise _Bad("base64 invalide") from None
        user = self.server.check_sasl(mechanism, blob, self._peer_has_certificate())
        if user is None:
            raise _Bad("[AUTHENTICATIONFAILED] authentification refusée", status="NO")
        self.user = user
        await self.send(f"{tag} OK [CAPABILITY {self.capabilities()}] authentifié\r\n")

    async def select(self, tag: str, name: str, tokens: list[object]) -> None:
        if len(tokens) != 1 or _string(tokens[0]).upper() != "INBOX":
            raise _Bad("seule INBOX existe", status="NO")
        assert self.user is not None
        self.selected = self.user
        self.read_only = name == "EXAMINE"
        store = self.server.store
        messages = store.messages(self.user)
        unseen = [i + 1 for i, m in enumerate(messages) if not m.seen]
        next_uid = (messages[-1].uid + 1) if messages else 1
        lines = [
            "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)",
            f"* {len(messages)} EXISTS",
            "* 0 RECENT",
            f"* OK [UIDVALIDITY {store.uid_validity(self.user)}] UIDs valides",
            f"* OK [UIDNEXT {next_uid}] prochain UID",
        ]
        if unseen:
            lines.append(f"* OK [UNSEEN {unseen[0]}] premier non lu")
        mode = "READ-ONLY" if self.read_only else "READ-WRITE"
        await self.send("\r\n".join([*lines, f"{tag} OK [{mode}] {name} terminé"]) + "\r\n")

    async def messages(
        self, tag: str, name: str, args: bytes, literals: list[bytes], by_uid: bool
    ) -> None:
        assert self.selected is not None
        messages = self.server.store.messages(self.selected)
        tokens = _tokens(args, literals)
        if name == "SEARCH":
            found = self.search(messages, tokens, by_uid)
            await self.send(f"* SEARCH {' '.join(map(str, found))}".rstrip() + "\r\n")
        elif name == "FETCH":
            if len(tokens) < 2:
                raise _Bad("FETCH ensemble éléments")
            positions = self.positions(messages, _string(tokens[0]), by_uid)
            items = self.fetch_items(args.split(b" ", 1)[1].decode("ascii", "replace"), by_uid)
            for position in positions:
                await self.fetch_one(position, messages[position], items)
        elif name == "STORE":
            if len(tokens) != 3:
                raise _Bad("STORE ensemble +FLAGS (drapeaux)")
            await self.store(messages, tokens, by_uid)
        else:
            raise _Bad(f"commande inconnue {name}")
        await self.send(f"{tag} OK {'UID ' if by_uid else ''}{name} terminé\r\n")

    @staticmethod
    def positions(messages: tuple[StoredMessage, ...], spec: str, by_uid: bool) -> list[int]:
        values = [m.uid for m in messages] if by_uid else list(range(1, len(messages) + 1))
        return _sequence(spec, values)

    def search(
        self, messages: tuple[StoredMessage, ...], tokens: list[object], by_uid: bool
    ) -> list[int]:
        selected = set(range(len(messages)))
        queue = [t for t in tokens]
        while queue:
            key = _string(queue.pop(0)).upper()
            if key == "ALL":
                continue
            if key in ("UNSEEN", "SEEN"):
                wanted = key == "SEEN"
                selected &= {i for i, m in enumerate(messages) if m.seen == wanted}
            elif key == "UID" and queue:
                selected &= set(self.positions(messages, _string(queue.pop(0)), True))
            elif key == "HEADER" and len(queue) >= 2:
                header, value = _string(queue.pop(0)), _string(queue.pop(0)).lower()
                parser = BytesHeaderParser(policy=compat32)
                selected &= {
                    i
                    for i, m in enumerate(messages)
                    if any(
                        value in str(v).lower()
                        for v in parser.parsebytes(m.data).get_all(header, [])
                    )
                }
            elif key == "CHARSET" and queue:
                queue.pop(0)
            elif key and (key[0].isdigit() or key[0] == "*"):
                selected &= set(self.positions(messages, key, False))
            else:
                raise _Bad(f"critère de recherche non pris en charge: {key}")
        return [messages[i].uid if by_uid else i + 1 for i in sorted(selected)]

    @staticmethod
    def fetch_items(text: str, by_uid: bool) -> list[str]:
        text = text.strip()
        macros = {"ALL": "FLAGS INTERNALDATE RFC822.SIZE", "FAST": "FLAGS INTERNALDATE RFC822.SIZE"}
        text = macros.get(text.upper(), text)
        items = [m.group(0).upper() for m in _FETCH_ITEM.finditer(text)]
        leftover = _FETCH_ITEM.sub("", text).strip("() ")
        if not items or leftover:
            raise _Bad(f"éléments FETCH non pris en charge: {text[:60]}")
        if by_uid and "UID" not in items:
            items.insert(0, "UID")
        return items

    async def fetch_one(self, position: int, message: StoredMessage, items: list[str]) -> None:
        assert self.selected is not None
        header_end = message.data.find(b"\r\n\r\n")
        header = message.data[: header_end + 4] if header_end >= 0 else message.data
        parts: list[bytes] = []
        mark_seen = False
        for item in items:
            if item == "UID":
                parts.append(b"UID %d" % message.uid)
            elif item == "FLAGS":
                continue  # emitted last, after a possible \Seen change
            elif item == "INTERNALDATE":
                parts.append(b'INTERNALDATE "01-Jan-2026 00:00:00 +0000"')
            elif item == "RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % len(message.data))
            else:
                peek = item.startswith("BODY.PEEK")
                section = item[item.find("[") + 1 : -1] if "[" in item else ""
                label = item.replace(".PEEK", "")
                if item == "RFC822.HEADER" or section == "HEADER":
                    payload = header
                elif item == "RFC822" or section == "":
                    payload = message.data
                else:
                    raise _Bad(f"section non prise en charge: {section}")
                if not peek and item != "RFC822.HEADER" and not self.read_only:
                    mark_seen = True
                parts.append(label.encode() + b" {%d}\r\n" % len(payload) + payload)
        if mark_seen and not message.seen:
            self.server.store.update_flags(self.selected, message.uid, {"\\Seen"}, "+")
        if "FLAGS" in items or mark_seen:
            flags = set(message.flags) | ({"\\Seen"} if mark_seen else set())
            parts.append(b"FLAGS (" + " ".join(sorted(flags)).encode() + b")")
        await self.send(b"* %d FETCH (" % (position + 1) + b" ".join(parts) + b")\r\n")

    async def store(
        self, messages: tuple[StoredMessage, ...], tokens: list[object], by_uid: bool
    ) -> None:
        assert self.selected is not None
        if self.read_only:
            raise _Bad("boîte en lecture seule", status="NO")
        operation = _string(tokens[1]).upper()
        match = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", operation)
        if match is None:
            raise _Bad(f"STORE {operation} non pris en charge")
        raw = tokens[2]
        flags = [_string(f) for f in raw] if isinstance(raw, list) else [_string(raw)]
        for position in self.positions(messages, _string(tokens[0]), by_uid):
            message = messages[position]
            self.server.store.update_flags(self.selected, message.uid, flags, match.group(1))
            if not match.group(2):
                current = next(
                    m for m in self.server.store.messages(self.selected) if m.uid == message.uid
                )
                uid = f"UID {message.uid} " if by_uid else ""
                await self.send(
                    f"* {position + 1} FETCH ({uid}FLAGS ({' '.join(sorted(current.flags))}))\r\n"
                )


PasswordCheck = Callable[[str, str], bool]
TokenCheck = Callable[[str, str], bool]


class ImapServer:
    """IMAP4rev1 server (STARTTLS required before authentication) over a :class:`MailboxStore`.

    ``check_password(user, password)`` accepts ``LOGIN`` / ``PLAIN``; ``check_token(user,
    token)`` accepts ``XOAUTH2``; ``EXTERNAL`` needs a verified client certificate
    (``tls_context`` asking for one) and names the mailbox in its authorisation identity.
    Serve it with :meth:`serve` inside a running event loop.
    """

    def __init__(
        self,
        store: MailboxStore,
        tls_context: ssl.SSLContext,
        *,
        check_password: PasswordCheck | None = None,
        check_token: TokenCheck | None = None,
    ) -> None:
        self.store = store
        self.tls_context = tls_context
        self._check_password = check_password or (lambda _user, _password: False)
        self._check_token = check_token or (lambda _user, _token: False)
        self._server: asyncio.Server | None = None
        self._sessions: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    def check_password(self, user: str, password: str) -> bool:
        return self._check_password(user, password)

    def check_sasl(self, mechanism: str, blob: bytes, has_certificate: bool) -> str | None:
        """The authenticated mailbox, or ``None`` when refused."""
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if mechanism == "EXTERNAL":
            return text if has_certificate and text else None
        if mechanism == "PLAIN":
            parts = text.split("\0")
            if len(parts) != 3:
                return None
            return parts[1] if self._check_password(parts[1], parts[2]) else None
        fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        if not user or not bearer.startswith("Bearer "):
            return None
        return user if self._check_token(user, bearer[len("Bearer ") :]) else None

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Start listening (inside the running loop); returns the :class:`asyncio.Server`."""
        self._server = await asyncio.start_server(self._connection, host, port)
        return self._server

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions[task] = writer
        clean = False
        try:
            await _Session(self, reader, writer).run()
            clean = True
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError, OSError):
            _log.debug("IMAP connection ended abnormally", exc_info=True)
        except asyncio.CancelledError:
            pass
        finally:
            self._sessions.pop(task, None)
            if not clean:
                writer.transport.abort()  # no TLS close_notify exchange with a gone/idle peer
            writer.close()
            # a second cancellation (loop shutdown) must not leave the task "cancelled":
            # asyncio's stream callback would report it as an unhandled exception
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def close(self) -> None:
        """Stop listening and end every session."""
        if self._server is not None:
            self._server.close()
        for task, writer in list(self._sessions.items()):
            writer.transport.abort()
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
