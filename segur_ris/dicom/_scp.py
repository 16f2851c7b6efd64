"""Modality Worklist C-FIND SCP on pynetdicom, serving a :class:`WorklistStore`.

pynetdicom does the DICOM upper layer and leaves matching to the handler: the handler here
compiles the identifier (:func:`parse_query`), walks the store's indexed candidates and answers
each match with exactly the requested keys. Statuses:

* ``0xFF00`` pending per match (``0xFF01`` when the query holds keys that cannot be matched:
  private or unknown tags), then ``0x0000``;
* ``0xFE00`` when the SCU sends C-CANCEL;
* ``0xA900`` for a malformed identifier, with an ErrorComment saying why;
* ``0xA700`` after ``max_matches`` answers: the query is too broad, refine it;
* ``0xC000`` when anything else fails while answering (logged; the server keeps serving).

Accepted sockets get ``TCP_NODELAY``: a C-FIND answer is a burst of small PDUs and, with Nagle's
algorithm, each one may wait for the SCU's delayed ACK (tens of milliseconds per match).

Pending answers bypass pynetdicom's per-response path (a C-FIND-RSP command set built and
encoded twice as a pydicom dataset, the identifier pretty-printed for its debug log whatever the
log level): the handler encodes the fixed command set itself, takes the identifier from
:meth:`WorklistQuery.encoded_response` (a stored item's elements are encoded once, not at every
answer) and queues the P-DATA primitives on the association's DUL, in order, before yielding
the final status to pynetdicom. ``EVT_DIMSE_SENT`` is not triggered for those answers. A query
identifier already seen (same bytes) reuses its compiled :class:`WorklistQuery`.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from segur_ris.dicom._matching import WorklistQuery, parse_query
from segur_ris.dicom._store import WorklistStore
from segur_ris.errors import DicomAssociationError, DicomQueryError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "MODALITY_WORKLIST_FIND",
    "STATUS_CANCEL",
    "STATUS_OUT_OF_RESOURCES",
    "STATUS_PROCESSING_FAILURE",
    "STATUS_UNSUPPORTED_KEYS",
    "WorklistScp",
]

LOG = logging.getLogger("segur_ris.dicom.scp")

#: SOP Class UID of Modality Worklist Information Model - FIND.
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
STATUS_PENDING = 0xFF00
STATUS_UNSUPPORTED_KEYS = 0xFF01
STATUS_CANCEL = 0xFE00
STATUS_BAD_IDENTIFIER = 0xA900
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_PROCESSING_FAILURE = 0xC000
_QUERY_CACHE = 256


def _status(code: int, comment: str) -> Dataset:
    from pydicom import Dataset

    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]
    return ds


def _server_class(nodelay: bool) -> type[Any]:
    from pynetdicom.transport import ThreadedAssociationServer

    class _Server(ThreadedAssociationServer):  # type: ignore[misc]
        """pynetdicom's threaded server, with TCP_NODELAY on each accepted socket."""

        def get_request(self) -> tuple[socket.socket, Any]:
            client, address = super().get_request()
            if nodelay:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return client, address

    return _Server


def _quiet_association(event: Any) -> None:
    """Unbind pynetdicom's standard logging handlers from an accepted association: they format
    every PDU and DIMSE message into text, even when nobody logs at that level, which costs
    about a tenth of each C-FIND answer."""
    from pynetdicom import evt
    from pynetdicom._handlers import (
        standard_dimse_recv_handler,
        standard_dimse_sent_handler,
        standard_pdu_recv_handler,
        standard_pdu_sent_handler,
    )

    if LOG.isEnabledFor(logging.DEBUG):
        return  # keep pynetdicom's traces when debugging
    assoc = event.assoc
    for event_type, handler in (
        (evt.EVT_DIMSE_RECV, standard_dimse_recv_handler),
        (evt.EVT_DIMSE_SENT, standard_dimse_sent_handler),
        (evt.EVT_PDU_RECV, standard_pdu_recv_handler),
        (evt.EVT_PDU_SENT, standard_pdu_sent_handler),
    ):
        assoc.unbind(event_type, handler)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _element(tag: int, value: bytes) -> bytes:
    """One implicit VR little endian element of the command group."""
    return struct.pack("<HHI", 0x0000, tag, len(value)) + value


class _PendingSender:
    """Sends C-FIND pending responses straight to the association's DUL (see the module
    documentation): the same PDUs as pynetdicom's, without its per-response overhead."""

    def __init__(self, event: Any) -> None:
        from pydicom.uid import UID

        self.assoc = event.assoc
        self.context_id = int(event.context.context_id)
        syntax = UID(event.context.transfer_syntax)
        self.implicit = bool(syntax.is_implicit_VR)
        self.little = bool(syntax.is_little_endian)
        self.deflated = bool(syntax.is_deflated)
        request = event.request
        uid = str(request.AffectedSOPClassUID or MODALITY_WORKLIST_FIND).encode("ascii")
        self.head = (
            _element(0x0002, uid + b"\0" * (len(uid) % 2))  # AffectedSOPClassUID
            + _element(0x0100, struct.pack("<H", 0x8020))  # CommandField: C-FIND-RSP
            + _element(0x0120, struct.pack("<H", int(request.MessageID)))
            + _element(0x0800, struct.pack("<H", 0x0001))  # CommandDataSetType: data follows
        )

    @property
    def connected(self) -> bool:
        acse = self.assoc.acse
        return bool(
            self.assoc.is_established and not acse.is_aborted() and not acse.is_release_requested()
        )

    def _pdvs(self, control: int, data: bytes) -> Iterator[tuple[int, bytes]]:
        """PS3.8 E.2 fragments: ``control`` bit 1 set on the last one only."""
        size = self.assoc.dimse.maximum_pdu_size
        size = len(data) if not size else max(size - 6, 1)
        for offset in range(0, max(len(data), 1), size):
            last = offset + size >= len(data)
            flag = control | (0x02 if last else 0x00)
            yield self.context_id, bytes([flag]) + data[offset : offset + size]

    def __call__(self, status: int, query: WorklistQuery, candidate: Dataset) -> bool:
        """Queue the pending response of ``candidate``; ``False`` when it cannot be encoded."""
        from pynetdicom.dsutils import encode
        from pynetdicom.pdu_primitives import P_DATA

        data: bytes | None
        if self.little and not self.deflated:
            try:
                data = query.encoded_response(candidate, implicit_vr=self.implicit)
            except Exception:  # pydicom raises many kinds on unencodable values
                LOG.warning("MWL answer not encodable", exc_info=True)
                data = None
        else:  # big endian or deflated: pydicom's general encoder
            data = encode(query.response(candidate), self.implicit, self.little, self.deflated)
        if not data:
            return False
        body = self.head + _element(0x0900, struct.pack("<H", status))
        command = _element(0x0000, struct.pack("<I", len(body))) + body
        for control, payload in ((0x01, command), (0x00, data)):
            for pdv in self._pdvs(control, payload):
                primitive = P_DATA()
                primitive.presentation_data_value_list.append(pdv)
                self.assoc.dul.send_pdu(primitive)
        return True


class WorklistScp:
    """A C-FIND SCP (Modality Worklist) on ``host:port`` answering from ``store``.

    ``port=0`` picks a free port (read :attr:`port` after :meth:`start`); ``host`` must be a
    loopback address unless ``allow_non_loopback=True`` (a deliberate choice to open the
    worklist to the modalities' network). ``max_matches`` bounds one answer;
    ``tcp_nodelay=False`` keeps pynetdicom's default socket settings (for comparison). Use as
    a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        store: WorklistStore,
        *,
        ae_title: str = "SEGUR_MWL",
        host: str = "127.0.0.1",
        port: int = 0,
        max_matches: int = 1000,
        tcp_nodelay: bool = True,
        network_timeout: float = 30.0,
        allow_non_loopback: bool = False,
    ) -> None:
        if max_matches < 1:
            raise DicomQueryError("max_matches doit être >= 1")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise DicomAssociationError(f"port TCP invalide: {port!r} (0 à 65535)")
        if (
            not isinstance(ae_title, str)
            or not ae_title.strip()
            or len(ae_title) > 16
            or any(c == "\\" or not " " <= c <= "~" for c in ae_title)
        ):
            raise DicomAssociationError(
                f"AE title invalide: {ae_title!r} (1 à 16 caractères ASCII, sans \\)"
            )
        if not allow_non_loopback and not _is_loopback(host):
            raise DicomAssociationError(
                f"{host}: adresse non locale refusée sans allow_non_loopback=True"
            )
        self.store = store
        self.ae_title = ae_title
        self.host = host
        self._requested_port = port
        self.max_matches = max_matches
        self.tcp_nodelay = tcp_nodelay
        self.network_timeout = network_timeout
        self._server: Any = None
        self._thread: threading.Thread | None = None
        # compiled queries by (identifier bytes, transfer syntax): modalities poll with the same
        # query, which is then neither decoded nor compiled again
        self._queries: dict[tuple[bytes, str], WorklistQuery] = {}

    @property
    def port(self) -> int:
        """The listening port (the actual one once started)."""
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> WorklistScp:
        """Listen and serve in a background thread; returns ``self``."""
        if self._server is not None:
            return self
        from pynetdicom import AE, evt

        ae = AE(ae_title=self.ae_title)
        ae.network_timeout = self.network_timeout
        ae.acse_timeout = self.network_timeout
        ae.dimse_timeout = self.network_timeout
        ae.maximum_associations = 32
        ae.add_supported_context(MODALITY_WORKLIST_FIND)
        try:
            server = ae.make_server(
                (self.host, self._requested_port),
                evt_handlers=[
                    (evt.EVT_C_FIND, self._on_find),
                    (evt.EVT_CONN_OPEN, _quiet_association),
                ],
                server_class=_server_class(self.tcp_nodelay),
            )
        except OSError as exc:
            raise DicomAssociationError(
                f"écoute impossible sur {self.host}:{self._requested_port}: {exc}"
            ) from None
        ae._servers.append(server)  # pynetdicom's shutdown() removes it from this list
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},  # stop() returns within 0.1 s
            name=f"mwl-scp-{self.port}",
            daemon=True,
        )
        self._thread.start()
        LOG.info("MWL SCP %s listening on %s:%d", self.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop listening, abort the associations still open, release the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        associations = list(server.active_associations)
        server.shutdown()
        for assoc in associations:
            assoc.abort()
        for assoc in associations:
            assoc.join(timeout=5)  # threading.Thread.join
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WorklistScp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"WorklistScp({self.ae_title!r}, {self.host}:{self.port})"

    # --- C-FIND ---------------------------------------------------------------------------

    def _on_find(self, event: Any) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        try:
            yield from self._answer(event)
        except GeneratorExit:
            raise
        except Exception:  # the server must outlive any failure of one query
            LOG.exception("MWL C-FIND failed")
            yield _status(STATUS_PROCESSING_FAILURE, "erreur interne du serveur de worklist"), None

    def _answer(self, event: Any) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        send = _PendingSender(event)
        raw = getattr(event.request.Identifier, "getvalue", None)
        key = (raw(), str(event.context.transfer_syntax)) if raw is not None else None
        query = self._queries.get(key) if key is not None else None
        if query is None:
            try:
                query = parse_query(event.identifier)
            except DicomQueryError as exc:
                LOG.warning("MWL C-FIND refused: %s", exc.message)
                yield _status(STATUS_BAD_IDENTIFIER, exc.message), None
                return
            except Exception as exc:  # identifier that pydicom cannot decode
                LOG.warning("MWL C-FIND identifier unreadable: %s", type(exc).__name__)
                yield _status(STATUS_BAD_IDENTIFIER, "identifiant de requête illisible"), None
                return
            if key is not None:
                if len(self._queries) >= _QUERY_CACHE:
                    self._queries.clear()
                self._queries[key] = query
        pending = STATUS_UNSUPPORTED_KEYS if query.unsupported else STATUS_PENDING
        sent = 0
        for candidate in self.store.candidates(query.filter):
            if event.is_cancelled:
                yield STATUS_CANCEL, None
                return
            if not query.matches(candidate):
                continue
            if sent >= self.max_matches:
                LOG.warning("MWL C-FIND stopped after %d matches", sent)
                yield (
                    _status(STATUS_OUT_OF_RESOURCES, f"plus de {sent} réponses: affiner"),
                    None,
                )
                return
            if not send.connected:
                return  # aborted or released by the peer: nothing more to answer
            if not send(pending, query, candidate):
                yield _status(STATUS_PROCESSING_FAILURE, "réponse non encodable"), None
                return
            sent += 1
        if event.is_cancelled:
            yield STATUS_CANCEL, None
            return
        yield 0x0000, None
