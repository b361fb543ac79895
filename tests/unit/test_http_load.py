"""The bench's load generator against a small loopback HTTP server: statuses, one kept-alive
connection per client, reconnecting after the server closes, and failures by name."""

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from torchserve_nlp.bench.http_load import KeepAliveClient, post_texts


class EchoLength(BaseHTTPRequestHandler):
    """Answers the body's length; ``/status/N`` answers N; ``/close`` closes after answering;
    ``/slow`` never answers in time."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.connections.add(self.client_address)  # type: ignore[attr-defined]
        if self.path == "/slow":
            threading.Event().wait(1.0)
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        reply = f"{len(body)} {self.headers['Content-Type']}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(reply)))
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)
        self.close_connection = self.path == "/close"

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoLength)
    httpd.connections = set()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def url(httpd: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def test_statuses_and_one_connection_per_client(server: ThreadingHTTPServer) -> None:
    with KeepAliveClient(url(server, "/status/201"), timeout_s=5) as client:
        outcomes = [client.post("é".encode(), "text/plain") for _ in range(5)]
    assert [o.outcome for o in outcomes] == [201] * 5
    assert all(o.latency_s > 0 for o in outcomes)
    assert len(server.connections) == 1  # type: ignore[attr-defined]


def test_reconnects_after_the_server_closes(server: ThreadingHTTPServer) -> None:
    with KeepAliveClient(url(server, "/close"), timeout_s=5) as client:
        outcomes = [client.post(b"x") for _ in range(3)]
    assert [o.outcome for o in outcomes] == [200] * 3
    assert len(server.connections) == 3  # type: ignore[attr-defined]


def test_failures_are_named_and_the_client_recovers(server: ThreadingHTTPServer) -> None:
    with KeepAliveClient(url(server, "/slow"), timeout_s=0.2) as client:
        assert client.post(b"x").outcome == "TimeoutError"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with KeepAliveClient(f"http://127.0.0.1:{port}/x", timeout_s=2) as client:
        assert client.post(b"x").outcome == "ConnectionRefusedError"


def test_rejects_what_is_not_an_http_url() -> None:
    with pytest.raises(ValueError, match="ftp://host/x"):
        KeepAliveClient("ftp://host/x", timeout_s=1)


def test_post_texts_sends_each_text_once(server: ThreadingHTTPServer) -> None:
    texts = [f"text {i}" for i in range(40)]
    run = post_texts(url(server, "/status/200"), texts, concurrency=4, max_seconds=30,
                     timeout_s=5)
    assert len(run.outcomes) == 40 and not run.stopped_by_deadline
    assert {o.outcome for o in run.outcomes} == {200}
    assert 1 <= len(server.connections) <= 4  # type: ignore[attr-defined]
