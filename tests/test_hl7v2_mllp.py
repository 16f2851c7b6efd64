"""MLLP: the sans-IO framer, then the asyncio server and client over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from segur_ris.errors import ConfigError, MllpError, MllpTimeout
from segur_ris.hl7v2._mllp import DEFAULT_MAX_FRAME, MllpFramer, frame
from segur_ris.hl7v2._mllp_asyncio import (
    MllpClient,
    MllpServer,
    PeerInfo,
    send_message,
    serve_mllp,
)
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._server import server_tls_context

T = TypeVar("T")

# A message carrying patient-like data, with non-ASCII bytes in two charsets.
MSG = (
    b"MSH|^~\\&|RIS|CHU|PACS|CHU|20240101120000||ORM^O01|42|P|2.5|||||FRA|8859/1\r"
    b"PID|||1234^^^CHU||D\xe9SIR\xc9^Ren\xe9e||19800101|F\r"
)
SECRET = b"D\xe9SIR\xc9"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def echo(message: bytes, peer: PeerInfo) -> bytes:
    return b"ACK|" + message


async def raw_exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Write ``data`` on a raw connection, return everything read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(wait):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --- frame / MllpFramer ---------------------------------------------------------------------


def test_frame_wraps_message() -> None:
    assert frame(b"MSH|x") == b"\x0bMSH|x\x1c\x0d"
    assert frame(bytearray(b"a")) == b"\x0ba\x1c\r"


@pytest.mark.parametrize("bad", [b"MSH|\x1c|x", b"\x0bMSH", b"a\x1c\r"])
def test_frame_refuses_block_characters(bad: bytes) -> None:
    with pytest.raises(MllpError) as info:
        frame(bad)
    assert info.value.code == "forbidden_byte"


def test_frame_refuses_text() -> None:
    with pytest.raises(TypeError):
        frame("MSH|x")  # type: ignore[arg-type]


def test_framer_split_at_every_position() -> None:
    messages = [MSG, b"second", b""]
    stream = b"".join(frame(m) for m in messages)
    for cut in range(len(stream) + 1):
        framer = MllpFramer()
        out = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert out == messages, cut
        assert framer.at_boundary


def test_framer_one_byte_chunks_and_pending() -> None:
    framer = MllpFramer()
    stream = frame(MSG) + frame(b"two")
    out: list[bytes] = []
    for index in range(len(stream)):
        out += framer.feed(stream[index : index + 1])
        if index == 10:
            assert not framer.at_boundary
            assert framer.pending == MSG[:10]
            assert framer.pending_size == 10
    assert out == [MSG, b"two"]
    assert framer.at_boundary and framer.pending == b"" and framer.pending_size == 0


def test_framer_several_frames_in_one_chunk() -> None:
    framer = MllpFramer()
    messages = [f"MSG{i}".encode() for i in range(50)]
    assert framer.feed(b"".join(frame(m) for m in messages)) == messages


def test_framer_tolerates_whitespace_between_frames() -> None:
    framer = MllpFramer()
    stream = b"\r\n " + frame(b"a") + b"\r\n\n\t " + frame(b"b") + b"\n"
    assert framer.feed(stream) == [b"a", b"b"]
    assert framer.at_boundary
    # whitespace inside a message is content
    assert framer.feed(frame(b" x\r\n")) == [b" x\r\n"]


def test_framer_garbage_outside_frame_then_reset() -> None:
    framer = MllpFramer()
    with pytest.raises(MllpError) as info:
        framer.feed(frame(b"a") + b"GET / HTTP/1.1\r\n")
    assert info.value.code == "garbage"
    assert framer.failed and not framer.at_boundary
    with pytest.raises(MllpError) as again:
        framer.feed(frame(b"b"))
    assert again.value.code == "failed"
    framer.reset()
    assert framer.feed(frame(b"b")) == [b"b"]


@pytest.mark.parametrize(
    "stream",
    [
        b"\x0bMSH|a\x1cX",  # block end not followed by CR
        b"\x0bMSH|a\x0bMSH|b\x1c\r",  # start block inside a frame
        b"\x1c\r",  # block end outside a frame
    ],
)
def test_framer_malformed_frames_are_garbage(stream: bytes) -> None:
    framer = MllpFramer()
    with pytest.raises(MllpError) as info:
        for index in range(len(stream)):
            framer.feed(stream[index : index + 1])
    assert info.value.code == "garbage"


def test_framer_oversize_without_unbounded_buffering() -> None:
    framer = MllpFramer(max_frame=100)
    assert framer.max_frame == 100
    assert framer.feed(frame(b"x" * 100)) == [b"x" * 100]  # exactly the limit
    framer.feed(b"\x0b" + b"y" * 60)
    with pytest.raises(MllpError) as info:
        framer.feed(b"y" * 41)
    assert info.value.code == "oversize"
    assert framer.pending_size == 0  # dropped, not buffered
    # a huge chunk without an end block is refused at once, never buffered
    framer = MllpFramer(max_frame=1000)
    with pytest.raises(MllpError):
        framer.feed(b"\x0b" + b"z" * 5_000_000)
    assert framer.pending_size == 0
    assert DEFAULT_MAX_FRAME == 16 * 1024 * 1024


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_framer_rejects_bad_max_frame(bad: Any) -> None:
    with pytest.raises(ConfigError):
        MllpFramer(max_frame=bad)


def test_framer_300k_message_in_one_byte_chunks_is_linear() -> None:
    message = bytes(range(32, 127)) * 3200  # ~300 KB
    stream = frame(message)
    framer = MllpFramer()
    out: list[bytes] = []
    started = time.perf_counter()
    for index in range(len(stream)):
        out += framer.feed(stream[index : index + 1])
    elapsed = time.perf_counter() - started
    assert out == [message]
    # ~0.5 s here; a framer re-scanning its buffer on each feed would take minutes
    assert elapsed < 10.0, elapsed


# --- server and client ----------------------------------------------------------------------


def test_roundtrip_and_peer_info() -> None:
    peers: list[PeerInfo] = []

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        peers.append(peer)
        return b"ACK|" + message

    async def main() -> None:
        async with serve_mllp(handler) as server:
            assert server.host == "127.0.0.1" and server.port > 0
            async with MllpClient("127.0.0.1", server.port) as client:
                assert await client.send(MSG) == b"ACK|" + MSG
                assert await client.send(b"second") == b"ACK|second"
                assert client.connected
            with pytest.raises(MllpError) as info:
                await client.send(b"late")
            assert info.value.code == "closed"

    run(main())
    assert len(peers) == 2 and peers[0] == peers[1]  # same connection
    assert peers[0].host == "127.0.0.1" and peers[0].client_cn is None


def test_start_and_close_explicitly_and_send_message_sync() -> None:
    async def start() -> MllpServer:
        return await MllpServer.start(echo)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        assert send_message("127.0.0.1", server.port, MSG, timeout=10) == b"ACK|" + MSG
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)  # idempotent
        with pytest.raises(MllpError) as info:
            send_message("127.0.0.1", server.port, MSG, timeout=5)
        assert info.value.code == "connect"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_300k_messages_both_ways() -> None:
    request = b"MSH|^~\\&|RIS\rOBX|1|ED|||" + bytes(range(32, 127)) * 3200
    answer = b"MSA|AA|1\r" + bytes(reversed(range(32, 127))) * 3300

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        assert message == request
        return answer

    async def main() -> None:
        async with (
            serve_mllp(handler) as server,
            MllpClient("127.0.0.1", server.port, timeout=20) as client,
        ):
            for _ in range(3):
                assert await client.send(request) == answer

    run(main())


def test_50_connections_x_200_messages() -> None:
    connections, per_connection = 50, 200
    seen: dict[int, list[bytes]] = defaultdict(list)
    in_progress: set[int] = set()
    overlaps: list[int] = []

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        if peer.port in in_progress:
            overlaps.append(peer.port)  # two messages of one connection at once
        in_progress.add(peer.port)
        await asyncio.sleep(0)  # interleave the connections
        seen[peer.port].append(message)
        in_progress.discard(peer.port)
        return b"MSA|AA|" + message

    async def one_client(port: int, number: int) -> list[bytes]:
        replies = []
        async with MllpClient("127.0.0.1", port, timeout=30) as client:
            for index in range(per_connection):
                message = b"MSH|C%d|M%d" % (number, index)
                reply = await client.send(message)
                assert reply == b"MSA|AA|" + message
                replies.append(reply)
        return replies

    async def main() -> list[list[bytes]]:
        async with serve_mllp(handler) as server:
            return await asyncio.gather(*(one_client(server.port, n) for n in range(connections)))

    started = time.perf_counter()
    results = run(main())
    elapsed = time.perf_counter() - started
    assert not overlaps
    assert len(seen) == connections  # one server connection per client
    assert sum(len(messages) for messages in seen.values()) == connections * per_connection
    by_client = {}
    for messages in seen.values():
        number = int(messages[0].split(b"|")[1][1:])
        # exactly once, in order, on the same connection
        assert messages == [b"MSH|C%d|M%d" % (number, i) for i in range(per_connection)]
        by_client[number] = messages
    assert sorted(by_client) == list(range(connections))
    for number, replies in enumerate(results):
        assert replies == [b"MSA|AA|" + m for m in by_client[number]]
    assert elapsed < 20.0, elapsed


def test_peer_disconnecting_mid_frame_and_garbage_do_not_hurt_the_server() -> None:
    async def main() -> None:
        async with serve_mllp(echo) as server, MllpClient("127.0.0.1", server.port) as client:
            assert await client.send(b"before") == b"ACK|before"
            # a peer vanishing in the middle of a frame
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x0bMSH|half a mess")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            # garbage: the server closes that connection without answering
            assert await raw_exchange(server.port, b"GET / HTTP/1.1\r\n\r\n") == b""
            assert await client.send(b"after") == b"ACK|after"
            for _ in range(100):
                if server.connection_count == 1:
                    break
                await asyncio.sleep(0.01)
            assert server.connection_count == 1

    run(main())


def test_oversize_frame_closes_the_connection() -> None:
    async def main() -> None:
        async with serve_mllp(echo, max_frame=1000) as server:
            assert await raw_exchange(server.port, frame(b"x" * 2000)) == b""
            async with MllpClient("127.0.0.1", server.port) as client:
                assert await client.send(b"x" * 996) == b"ACK|" + b"x" * 996


def test_read_timeout_closes_a_partial_frame() -> None:
    async def main() -> float:
        async with serve_mllp(echo, read_timeout=0.3, idle_timeout=30) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                writer.write(b"\x0bMSH|slow")
                await writer.drain()
                started = time.perf_counter()
                # keep trickling bytes: the deadline is per frame, not per read
                for _ in range(3):
                    await asyncio.sleep(0.05)
                    writer.write(b"x")
                async with asyncio.timeout(5):
                    assert await reader.read() == b""
                return time.perf_counter() - started
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    elapsed = run(main())
    assert 0.2 < elapsed < 3.0, elapsed


def test_idle_timeout_and_client_reconnects() -> None:
    peers: list[int] = []

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        peers.append(peer.port)
        return b"ACK|" + message

    async def main() -> None:
        async with (
            serve_mllp(handler, idle_timeout=0.2) as server,
            MllpClient("127.0.0.1", server.port, timeout=5) as client,
        ):
            assert await client.send(b"one") == b"ACK|one"
            for _ in range(500):  # the server drops the idle connection
                await asyncio.sleep(0.01)
                if server.connection_count == 0:
                    break
            assert server.connection_count == 0
            assert await client.send(b"two") == b"ACK|two"

    run(main())
    assert len(peers) == 2 and peers[0] != peers[1]


async def _flaky_server(
    on_connection: Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, list[int]]:
    """A raw server calling ``on_connection(number, reader, writer)`` then closing."""
    counter: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counter.append(len(counter))
        try:
            await on_connection(counter[-1], reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, "127.0.0.1", 0), counter


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    return (await reader.readuntil(b"\x1c\r"))[1:-2]


def test_client_resends_once_when_the_connection_dies_before_the_reply() -> None:
    async def on_connection(
        number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        message = await _read_frame(reader)
        if number > 0:  # the first connection dies without answering
            writer.write(frame(b"ACK|" + message))
            await writer.drain()

    async def main() -> list[int]:
        server, counter = await _flaky_server(on_connection)
        async with server, MllpClient("127.0.0.1", server.sockets[0].getsockname()[1]) as client:
            assert await client.send(b"hello") == b"ACK|hello"
        return counter

    assert run(main()) == [0, 1]


def test_client_does_not_resend_after_part_of_the_reply() -> None:
    async def on_connection(
        number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await _read_frame(reader)
        writer.write(b"\x0bMSA|AA|")  # then dies
        await writer.drain()

    async def main() -> list[int]:
        server, counter = await _flaky_server(on_connection)
        async with server, MllpClient("127.0.0.1", server.sockets[0].getsockname()[1]) as client:
            with pytest.raises(MllpError) as info:
                await client.send(b"hello")
            assert info.value.code == "connection_lost"
            assert not isinstance(info.value, MllpTimeout)
        return counter

    assert run(main()) == [0]


def test_client_gives_up_after_one_resend() -> None:
    async def on_connection(
        number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await _read_frame(reader)

    async def main() -> list[int]:
        server, counter = await _flaky_server(on_connection)
        async with server, MllpClient("127.0.0.1", server.sockets[0].getsockname()[1]) as client:
            with pytest.raises(MllpError) as info:
                await client.send(b"hello")
            assert info.value.code == "connection_lost"
        return counter

    assert run(main()) == [0, 1]


def test_client_timeout_against_a_silent_server() -> None:
    release = threading.Event()

    async def silent(message: bytes, peer: PeerInfo) -> bytes:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return b"too late"

    async def main() -> float:
        async with serve_mllp(silent) as server:
            client = MllpClient("127.0.0.1", server.port, timeout=0.3)
            started = time.perf_counter()
            try:
                with pytest.raises(MllpTimeout) as info:
                    await client.send(MSG)
                assert info.value.code == "timeout"
                assert not client.connected  # a late reply must not be read as the next one
            finally:
                release.set()
                await client.close()
            return time.perf_counter() - started

    elapsed = run(main())
    assert 0.25 < elapsed < 3.0, elapsed


def test_handler_exception_without_error_ack_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[bytes] = []

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        calls.append(message)
        if message.startswith(b"MSH"):
            raise ValueError(f"cannot process {message!r}")  # quotes patient data
        return b"ACK|" + message

    async def main() -> None:
        async with (
            serve_mllp(handler) as server,
            MllpClient("127.0.0.1", server.port, timeout=5) as client,
        ):
            with pytest.raises(MllpError) as info:
                await client.send(MSG)
            assert info.value.code == "connection_lost"
            assert await client.send(b"ok") == b"ACK|ok"  # server still serving

    with caplog.at_level(logging.DEBUG, logger="segur_ris.hl7v2.mllp"):
        run(main())
    assert calls == [MSG, MSG, b"ok"]  # the client resent once on a fresh connection
    assert "ValueError" in caplog.text
    assert "SIR" not in caplog.text and "DESIR" not in caplog.text
    assert all("MSH" not in record.getMessage() for record in caplog.records)


def test_handler_exception_with_error_ack() -> None:
    ports: list[int] = []
    errors: list[Exception] = []

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        ports.append(peer.port)
        if message == b"bad":
            raise RuntimeError("boom")
        return b"ACK|" + message

    def error_ack(message: bytes, exc: Exception) -> bytes:
        errors.append(exc)
        return b"MSA|AE|" + message

    async def main() -> None:
        async with (
            serve_mllp(handler, error_ack=error_ack) as server,
            MllpClient("127.0.0.1", server.port) as client,
        ):
            assert await client.send(b"bad") == b"MSA|AE|bad"
            assert await client.send(b"good") == b"ACK|good"

    run(main())
    assert len(set(ports)) == 1  # the connection was kept
    assert [type(e) for e in errors] == [RuntimeError]


def test_handler_returning_unframable_reply_is_a_handler_failure() -> None:
    async def handler(message: bytes, peer: PeerInfo) -> Any:
        return "text" if message == b"text" else b"bad\x1cack"

    async def main() -> None:
        async with (
            serve_mllp(
                handler, error_ack=lambda m, e: b"AE|" + type(e).__name__.encode()
            ) as server,
            MllpClient("127.0.0.1", server.port) as client,
        ):
            assert await client.send(b"text") == b"AE|TypeError"
            assert await client.send(b"x") == b"AE|MllpError"

    run(main())


def test_sync_handler_runs_in_executor() -> None:
    threads: list[str] = []

    def handler(message: bytes, peer: PeerInfo) -> bytes:
        threads.append(threading.current_thread().name)
        time.sleep(0.01)  # blocking is fine: not on the loop
        return b"ACK|" + message

    async def main() -> None:
        async with serve_mllp(handler) as server:
            loop_thread = threading.current_thread().name

            async def client(number: int) -> None:
                async with MllpClient("127.0.0.1", server.port) as c:
                    for index in range(5):
                        message = b"%d-%d" % (number, index)
                        assert await c.send(message) == b"ACK|" + message

            await asyncio.gather(*(client(n) for n in range(4)))
            assert loop_thread not in threads

    run(main())
    assert len(threads) == 20


def test_close_waits_for_in_flight_handlers() -> None:
    finished: list[bool] = []

    async def slow(message: bytes, peer: PeerInfo) -> bytes:
        await asyncio.sleep(0.3)
        finished.append(True)
        return b"ACK|" + message

    async def main() -> None:
        server = await MllpServer.start(slow)
        async with (
            MllpClient("127.0.0.1", server.port) as client,
            MllpClient("127.0.0.1", server.port) as idle,
        ):
            await idle.connect()
            sending = asyncio.create_task(client.send(b"inflight"))
            await asyncio.sleep(0.1)  # the handler is running
            await server.close()
            assert finished == [True]
            assert await sending == b"ACK|inflight"  # its ACK was still sent
            assert server.connection_count == 0
            with pytest.raises(MllpError):
                await idle.send(b"after close")
            await server.serve_forever()  # returns at once: closed

    run(main())


def test_tls_with_client_certificate(pki: TestPki) -> None:
    server_context = server_tls_context(pki.server_cert, pki.server_key, pki.ca_cert)
    credential = pki.clients["INSI-AUTO"]
    peers: list[PeerInfo] = []

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        peers.append(peer)
        return b"ACK|" + message

    def client_context(with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        if with_certificate:
            context.load_cert_chain(str(credential.cert), str(credential.key))
        return context

    async def main() -> None:
        async with serve_mllp(handler, ssl=server_context) as server:
            async with MllpClient(
                "127.0.0.1", server.port, ssl=client_context(True), timeout=10
            ) as client:
                assert await client.send(MSG) == b"ACK|" + MSG
                big = b"x" * 300_000
                assert await client.send(big) == b"ACK|" + big
            async with MllpClient(
                "127.0.0.1", server.port, ssl=client_context(False), timeout=10
            ) as anonymous:
                with pytest.raises(MllpError):
                    await anonymous.send(MSG)
            # the server name is checked
            async with MllpClient(
                "127.0.0.1",
                server.port,
                ssl=client_context(True),
                server_hostname="not-the-server.example",
                timeout=10,
            ) as wrong_name:
                with pytest.raises(MllpError) as info:
                    await wrong_name.send(MSG)
                assert info.value.code == "connect"

    run(main())
    assert len(peers) == 2
    assert all(peer.client_cn == credential.cn == "INSI-AUTO" for peer in peers)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.org", ""])
def test_non_loopback_bind_refused(host: str) -> None:
    with pytest.raises(ConfigError):
        run(MllpServer.start(echo, host))


def test_localhost_means_ipv4_loopback() -> None:
    async def main() -> None:
        async with serve_mllp(echo, "localhost") as server:
            assert server.host == "127.0.0.1"
            async with MllpClient("localhost", server.port) as client:
                assert await client.send(b"x") == b"ACK|x"

    run(main())


def test_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        MllpClient("127.0.0.1", 1, timeout=0)
    with pytest.raises(ConfigError):
        MllpClient("127.0.0.1", 1, server_hostname="x")
    with pytest.raises(ConfigError):
        run(MllpServer.start(echo, read_timeout=-1))
    with pytest.raises(ConfigError):
        run(MllpServer.start(echo, max_frame=0))


def test_port_in_use_is_an_mllp_error() -> None:
    async def main() -> None:
        async with serve_mllp(echo) as server:
            with pytest.raises(MllpError) as info:
                await MllpServer.start(echo, port=server.port)
            assert info.value.code == "bind"

    run(main())


def test_cancelled_send_drops_the_connection() -> None:
    release = asyncio.Event()

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        if message == b"slow":
            await release.wait()
        return b"ACK|" + message

    async def main() -> None:
        async with (
            serve_mllp(handler) as server,
            MllpClient("127.0.0.1", server.port) as client,
        ):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await client.send(b"slow")
            assert not client.connected
            release.set()  # the late ACK of "slow" goes to the dropped connection
            assert await client.send(b"fast") == b"ACK|fast"

    run(main())


def test_connections_beyond_the_limit_are_closed() -> None:
    async def scenario() -> None:
        async def echo(message: bytes, peer: PeerInfo) -> bytes:
            return message

        async with serve_mllp(echo, max_connections=1, read_timeout=5) as server:
            first = MllpClient("127.0.0.1", server.port, timeout=5)
            second = MllpClient("127.0.0.1", server.port, timeout=2)
            try:
                assert await first.send(b"MSH|one") == b"MSH|one"
                with pytest.raises(MllpError):
                    await second.send(b"MSH|two")
                assert server.connection_count == 1
            finally:
                await first.close()
                await second.close()

    asyncio.run(scenario())
