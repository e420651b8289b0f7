"""The egress client (cpaas/core/egress/client.py) against raw asyncio servers that answer in
every framing HTTP/1.1 allows, and in the broken ways receivers do."""

from __future__ import annotations

import asyncio

import pytest

from cpaas.core.egress import client as http

pytestmark = pytest.mark.usefixtures("allow_loopback")


async def _serve(answer: bytes, *, close: bool):
    """A server that reads one request head and writes ``answer`` (then closes if ``close``)."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")))
            requests.append(head + await reader.readexactly(length))
            writer.write(answer)
            await writer.drain()
            if close:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook?a=1", requests


def _post(answer: bytes, *, close: bool, max_body: int = 65536, times: int = 1):
    async def run():
        server, url, requests = await _serve(answer, close=close)
        pool = http.Pool()
        try:
            results = []
            for _ in range(times):
                try:
                    results.append(await pool.post(url, {"webhook-id": "msg_1"}, b'{"x":1}', max_body=max_body))
                except http.HttpError as exc:
                    results.append(exc)
            return results, requests, pool
        finally:
            pool.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(run())


def test_a_body_delimited_by_the_end_of_the_connection_is_a_response():
    [response], _, _ = _post(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthanks", close=True)
    assert response.status == 200 and bytes(response.body) == b"thanks" and not response.keep_alive


def test_content_length_responses_keep_the_connection_for_the_next_delivery():
    results, requests, _ = _post(b"HTTP/1.1 204 No Content\r\n\r\n", close=False, times=3)
    assert [r.status for r in results] == [204, 204, 204]
    assert len(requests) == 3
    assert requests[0].startswith(b"POST /hook?a=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert requests[0].endswith(b'\r\n\r\n{"x":1}')


def test_chunked_bodies_are_read_whole():
    answer = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfail\r\n3\r\ned!\r\n0\r\n\r\n"
    [response], _, _ = _post(answer, close=False)
    assert response.status == 500 and bytes(response.body) == b"failed!"


def test_a_large_body_is_cut_at_the_cap_and_the_connection_not_reused():
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
    [response], _, pool = _post(answer, close=False, max_body=1024)
    assert response.status == 200 and len(response.body) == 1024 and response.truncated
    assert not pool.idle


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",  # fewer bytes than announced
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # a chunk cut off
    b"HTTP/1.1 200 OK\r\nConte",  # the head cut off
    b"",  # nothing at all
])
def test_a_server_closing_mid_response_is_a_read_error(answer):
    [result], _, _ = _post(answer, close=True)
    assert isinstance(result, http.ReadError)


def test_garbage_is_a_protocol_error():
    [result], _, _ = _post(b"SMTP ready\r\n\r\n", close=True)
    assert isinstance(result, http.ProtocolError)


def test_a_head_past_the_cap_is_a_protocol_error_not_buffered_forever():
    answer = b"HTTP/1.1 200 OK\r\n" + b"x-filler: " + b"a" * 200_000 + b"\r\nContent-Length: 0\r\n\r\n"
    [result], _, _ = _post(answer, close=True)
    assert isinstance(result, http.ProtocolError) and "head larger" in str(result)


def test_a_redirect_is_returned_as_it_is_never_followed():
    [response], requests, _ = _post(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n"
                                    b"Content-Length: 0\r\n\r\n", close=False)
    assert response.status == 302 and response.headers["location"] == "http://169.254.169.254/"
    assert len(requests) == 1
