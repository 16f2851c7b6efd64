"""HTTP transports over mutual TLS: HttpsTransport (h11) vs RequestsTransport vs http.client.

Run: ``python benchmarks/bench_http.py``. A server in another process (the sandbox test PKI,
client certificate required) answers every POST with a 1 KB ``multipart/related`` body under a
fresh boundary, framed by Content-Length: what the DMP answers to an MTOM submission. The
client POSTs a 100 KB body on one keep-alive connection, sequentially, and the script prints the
client's CPU time per request (``time.process_time``, best of 3 runs: the server's CPU is not
counted), the requests per second of that run, and each transport's CPU relative to
``HttpsTransport``, all in one run.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

QUICK = os.environ.get("BENCH_QUICK") == "1"  # smoke run (tests): few iterations
REQUESTS = 5 if QUICK else 300
RUNS = 1 if QUICK else 3
BODY = os.urandom(60_000) + b"y" * 40_000  # half incompressible, like a signed CDA + PDF
HEADERS = {
    "Content-Type": 'multipart/related; type="application/xop+xml"; boundary="uuid:req"',
    "MIME-Version": "1.0",
}
ANSWER_BYTES = 1024

SERVER = r"""
import os, socket, sys, threading
from segur_ris.tls import server_context

context = server_context(cert_file=sys.argv[1], key_file=sys.argv[2], client_trust=sys.argv[3])
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
size = int(sys.argv[4])

def answer():
    boundary = "MIMEBoundary_" + os.urandom(16).hex()
    part = (
        f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
        'type="application/soap+xml"\r\nContent-Transfer-Encoding: binary\r\n'
        "Content-ID: <root.message@cxf.apache.org>\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = part + b"<ok/>".ljust(size - len(part) - len(tail), b" ") + tail
    head = (
        "HTTP/1.1 200 OK\r\nServer: bench\r\n"
        f'Content-Type: multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        'start="<root.message@cxf.apache.org>"; start-info="application/soap+xml"\r\n'
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body

def serve(raw):
    with context.wrap_socket(raw, server_side=True) as tls, tls.makefile("rb") as reader:
        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while reader.readline():
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            reader.read(length)
            tls.sendall(answer())

while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"""


def measure(post: Callable[[], int]) -> tuple[float, float]:
    """(best CPU ms per request, requests/s of the runs' best wall time) for ``post``."""
    for _ in range(3):
        assert post() == ANSWER_BYTES  # warm-up: connection open, answer checked
    best_cpu = best_wall = float("inf")
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(REQUESTS):
            post()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu / REQUESTS * 1000, REQUESTS / best_wall


def main() -> int:
    from segur_ris.sandbox import generate_test_pki
    from segur_ris.tls import client_context
    from segur_ris.transport import HttpsTransport, RequestsTransport

    with tempfile.TemporaryDirectory(prefix="bench-http-") as directory:
        pki = generate_test_pki(Path(directory))
        client = pki.clients["AUTRE"]
        files = (pki.server_cert, pki.server_key, pki.ca_cert)
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, *map(str, files), str(ANSWER_BYTES)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            url = f"https://localhost:{port}/dmp/registry"
            h11_transport = HttpsTransport(
                client_cert=(client.cert, client.key), ca_bundle=pki.ca_cert
            )
            requests_transport = RequestsTransport(
                client_cert=(client.cert, client.key), ca_bundle=pki.ca_cert
            )
            context = client_context(trust=pki.ca_cert, cert_file=client.cert, key_file=client.key)
            connection = http.client.HTTPSConnection("localhost", port, context=context)

            def via_http_client() -> int:
                connection.request("POST", "/dmp/registry", BODY, HEADERS)
                return len(connection.getresponse().read())

            rows = {
                "HttpsTransport (h11)": measure(
                    lambda: len(h11_transport.post(url, BODY, HEADERS, 30).body)
                ),
                "RequestsTransport": measure(
                    lambda: len(requests_transport.post(url, BODY, HEADERS, 30).body)
                ),
                "http.client": measure(via_http_client),
            }
            h11_transport.close()
            requests_transport.close()
            connection.close()
        finally:
            server.kill()
            server.wait()
    print(
        f"Python {sys.version.split()[0]}: POST {len(BODY) // 1000} KB, answer {ANSWER_BYTES} B "
        f"multipart/related (fresh boundary), mutual TLS, keep-alive, {REQUESTS} x {RUNS}"
    )
    print(f"{'transport':22} {'CPU ms/req':>11} {'req/s':>8} {'CPU vs h11':>11}")
    base = rows["HttpsTransport (h11)"][0]
    for name, (cpu_ms, rate) in rows.items():
        print(f"{name:22} {cpu_ms:11.3f} {rate:8.0f} {cpu_ms / base:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
