"""The proxy's HTTP/1.1 parsing (cloud.lb.http1): heads, framing, chunked bodies; the strict
request reader (llhttp) byte by byte, pipelined, and ALB's limits."""

from __future__ import annotations

import pytest

from cloud.lb.http1 import (
    MAX_HEAD,
    MAX_HEADER,
    MAX_REQUEST_LINE,
    ChunkedDecoder,
    HttpError,
    RequestReader,
    chunk,
    date_line,
    parse_request_head,
    parse_response_head,
    response_head,
)


def head(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


def test_a_plain_request_keeps_alive_and_relays_its_end_to_end_headers() -> None:
    got = parse_request_head(head("POST /predict?x=1 HTTP/1.1", "Host: lb:8080",
                                  "Content-Type: application/json", "Content-Length: 12",
                                  "Keep-Alive: timeout=5", "X-Forwarded-For: 10.0.0.1"))
    assert (got.method, got.target, got.minor) == (b"POST", b"/predict?x=1", 1)
    assert got.keep_alive and got.host and got.length == 12 and not got.chunked
    assert got.lines == [b"Host: lb:8080", b"Content-Type: application/json"]
    assert got.forwarded_for == b"10.0.0.1"


def test_connection_close_http10_and_headers_named_by_connection() -> None:
    assert not parse_request_head(head("GET / HTTP/1.1", "Host: a",
                                       "Connection: close")).keep_alive
    assert not parse_request_head(head("GET / HTTP/1.0")).keep_alive
    kept = parse_request_head(head("GET / HTTP/1.0", "Connection: keep-alive, X-Secret",
                                   "X-Secret: 1", "Accept: */*"))
    assert kept.keep_alive and kept.minor == 0 and not kept.host
    assert kept.lines == [b"Accept: */*"]  # X-Secret is hop-by-hop: Connection names it


def test_chunked_request_bodies_are_understood_other_codings_refused() -> None:
    got = parse_request_head(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"))
    assert got.chunked and got.length is None
    cases = {
        ("Transfer-Encoding: chunked", "Content-Length: 5"): 400,  # smuggling shape
        ("Transfer-Encoding: gzip, chunked",): 501,  # ALB: 501 for an unsupported coding
        ("Transfer-Encoding: identity",): 501,
        ("Content-Length: 5", "Content-Length: 6"): 400,
        ("Content-Length: 5", "Content-Length: 5"): 400,  # strict: never twice
        ("Content-Length: -1",): 400,
        ("Content-Length: 1_0",): 400,
        ("Host : x",): 400,  # whitespace before the colon
        ("NoColon",): 400,
    }
    for lines, status in cases.items():
        with pytest.raises(HttpError) as refused:
            parse_request_head(head("POST / HTTP/1.1", "Host: a", *lines))
        assert refused.value.status == status, lines


@pytest.mark.parametrize(("line", "status"), [("GET / HTTP/2.0", 505), ("GET /", 400),
                                              ("GET /a b HTTP/1.1", 400), ("", 400),
                                              ("G@T / HTTP/1.1", 400),
                                              ("GET / HTTP/1.2", 400),
                                              ("TRACE / HTTP/1.0", 405),
                                              ("CONNECT a:443 HTTP/1.0", 400)])
def test_bad_request_lines(line: str, status: int) -> None:
    with pytest.raises(HttpError) as refused:
        parse_request_head(line.encode())
    assert refused.value.status == status


def test_absolute_form_targets_are_relayed_in_origin_form() -> None:
    assert parse_request_head(head("GET http://lb:80/a?b=1 HTTP/1.1",
                                   "Host: lb:80")).target == b"/a?b=1"
    assert parse_request_head(head("GET http://lb HTTP/1.1", "Host: lb")).target == b"/"


def test_response_heads() -> None:
    got = parse_response_head(head("HTTP/1.1 201 Created", "Server: gunicorn",
                                   "Connection: close", "Content-Length: 3"))
    assert (got.status, got.reason, got.length, got.chunked) == (201, b"Created", 3, False)
    assert not got.keep_alive and got.lines == [b"Server: gunicorn"]
    chunked = parse_response_head(head("HTTP/1.1 200", "Transfer-Encoding: chunked"))
    assert chunked.chunked and chunked.length is None and chunked.reason == b""
    assert not parse_response_head(head("HTTP/1.0 200 OK")).keep_alive
    for bad in ("THIS IS NOT HTTP", "HTTP/1.1 2000 OK", "HTTP/2 200", "ICY 200 OK"):
        with pytest.raises(ValueError):
            parse_response_head(bad.encode())
    with pytest.raises(ValueError):
        parse_response_head(head("HTTP/1.1 200 OK", "Content-Length: x"))


def _as_tuple(raw: bytes) -> object:
    """parse_response_head's verdict in response_head's shape ("refused" when it raises)."""
    try:
        got = parse_response_head(raw)
    except ValueError:
        return "refused"
    lines = b"\r\n".join(got.lines) + b"\r\n" if got.lines else b""
    return got.status, got.reason, lines, got.length, got.chunked, got.keep_alive


RESPONSE_LINES = ("Server: gunicorn", "Connection: keep-alive", "Connection: close",
                  "connection: Close, keep-alive", "Connection: X-Drop", "X-Drop: 1",
                  "Content-Length: 12", "content-length:  7 ", "Content-Length: x",
                  "Transfer-Encoding: chunked", "Keep-Alive: timeout=5", "TE: trailers",
                  "Upgrade: h2c", "X-Te: 1", "Bad Name: x", " Lead: x", "Name : x", ": x",
                  "NoColon", "A:\nB", "A: b\rc", "Proxy-Connection: x", "Set-Cookie: a=b; c")


@pytest.mark.parametrize("status", ["HTTP/1.1 200 OK", "HTTP/1.0 200 OK", "HTTP/1.1 204",
                                    "HTTP/1.1 100 Continue", "HTTP/2 200 OK", "HTTP/1.1 20 OK"])
def test_the_fast_response_head_agrees_with_the_line_by_line_parser(status: str) -> None:
    """response_head (one pass, remembered heads) gives what parse_response_head gives, or
    refuses what it refuses, for every pair of header lines after each status line (twice:
    the second answer comes from the remembered heads)."""
    for first in RESPONSE_LINES:
        for second in RESPONSE_LINES:
            raw = head(status, first, "Date: x", second)
            want = _as_tuple(raw)
            for _ in range(2):
                try:
                    got: object = response_head(raw)
                except ValueError:
                    got = "refused"
                assert got == want, raw


def test_chunked_decoder_byte_by_byte_with_extensions_and_trailers() -> None:
    message = (b"4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
               b"0\r\nX-T: 1\r\n\r\nNEXT")
    whole = ChunkedDecoder()
    assert b"".join(whole.feed(message)) == b"Wikipedia in\r\n\r\nchunks."
    assert whole.done and whole.tail == b"NEXT" and whole.size == 23
    slow = ChunkedDecoder()
    pieces = [p for i in range(len(message)) for p in slow.feed(message[i:i + 1])]
    assert b"".join(pieces) == b"Wikipedia in\r\n\r\nchunks." and slow.done
    assert slow.tail == b"NEXT"


@pytest.mark.parametrize("bad", [b"x\r\n", b"1_0\r\n", b"+5\r\n", b"3\r\nabcX\r\n",
                                 b"F" * 5000])
def test_chunked_decoder_refuses_malformed_framing(bad: bytes) -> None:
    with pytest.raises(ValueError):
        ChunkedDecoder().feed(bad)


def test_chunk_and_date_line() -> None:
    assert chunk(b"abc") == b"3\r\nabc\r\n" and chunk(b"") == b"0\r\n\r\n"
    assert date_line().startswith(b"Date: ") and date_line().endswith(b" GMT\r\n")


REQUEST = (b"POST /p HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
           b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
           b"GET /q HTTP/1.1\r\nHost: lb\r\nContent-Length: 2\r\n\r\nhi")


def test_the_reader_byte_by_byte_and_pipelined() -> None:
    whole = RequestReader(max_body=1000)
    whole.feed(REQUEST)
    slow = RequestReader(max_body=1000)
    for i in range(len(REQUEST)):
        slow.feed(REQUEST[i:i + 1])
    for reader in (whole, slow):
        (first, body1), (second, body2) = reader.ready
        assert (first.target, body1, first.length) == (b"/p", b"abcde", None)
        assert first.lines == [b"Host: lb", b"X-A: 1"]  # no Transfer-Encoding, no trailer
        assert (second.method, second.target, body2, second.length) == (b"GET", b"/q", b"hi", 2)
        assert not reader.started


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET / HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\n\r\n", 400),  # bare LF
    (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),  # NUL
    (b"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400),  # not a token
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\x0c\r\n\r\nabc", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400),  # obs-fold
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a\nb\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: " + b", ".join([b"10.0.0.1"] * 31)
     + b"\r\n\r\n", 463),
    (b"GET /" + b"a" * MAX_REQUEST_LINE + b" HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * MAX_HEADER + b"\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: " + b"a" * 10_000 + b"\r\n" * 1
     + b"".join(b"X%d: %s\r\n" % (i, b"a" * 10_000) for i in range(7)) + b"\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413),
])
def test_the_reader_refuses(raw: bytes, status: int) -> None:
    for pieces in ([raw], [raw[i:i + 7] for i in range(0, len(raw), 7)]):
        reader = RequestReader(max_body=1000)
        with pytest.raises(HttpError) as refused:
            for piece in pieces:
                reader.feed(piece)
        assert refused.value.status == status
        assert not reader.ready


def test_a_head_that_never_ends_is_refused_at_64k() -> None:
    reader = RequestReader(max_body=1000)
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n")
    with pytest.raises(HttpError) as refused:
        for _ in range(MAX_HEAD // 1000 + 1):
            reader.feed(b"X-Pad: " + b"a" * 991 + b"\r\n")
    assert refused.value.status == 400 and reader.in_head


def test_expect_continue_is_wanted_until_the_body_comes() -> None:
    reader = RequestReader(max_body=1000)
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                b"Content-Length: 2\r\n\r\n")
    assert reader.continue_wanted and reader.started and not reader.in_head
    reader.feed(b"ok")
    assert not reader.continue_wanted and reader.ready[0][1] == b"ok"


KNOWN = (b"POST /k HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\n"
         b"Content-Length: 2\r\n\r\n")


def _requests(reader: RequestReader) -> list[tuple[object, ...]]:
    return [(h.method, h.target, h.minor, h.lines, h.host, h.forwarded_for, h.length,
             h.chunked, h.keep_alive, h.expect_continue, body) for h, body in reader.ready]


def test_a_head_seen_before_gives_the_same_request_without_llhttp() -> None:
    """A head llhttp accepted is remembered by its bytes: the same head again, alone, pipelined
    or with its body trickling in, gives the same request as llhttp did the first time."""
    first = RequestReader(max_body=1000)
    first.feed(KNOWN + b"{}")  # llhttp parses it, and the head is remembered
    again = RequestReader(max_body=1000)
    again.feed(KNOWN + b"{}" + KNOWN + b"[]" + KNOWN[:10])
    again.feed(KNOWN[10:] + b"x")
    again.feed(b"y")
    want = _requests(first)[0][:-1]
    assert [r[:-1] for r in _requests(again)] == [want] * 3
    assert [r[-1] for r in _requests(again)] == [b"{}", b"[]", b"xy"]
    assert not again.started


@pytest.mark.parametrize("after", [
    b"GET / HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\n\r\n",  # bare LF
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
])
def test_what_follows_a_head_seen_before_is_still_parsed_strictly(after: bytes) -> None:
    RequestReader(max_body=1000).feed(KNOWN + b"{}")
    reader = RequestReader(max_body=1000)
    with pytest.raises(HttpError) as refused:
        reader.feed(KNOWN + b"{}" + after)
    assert refused.value.status == 400 and len(reader.ready) == 1


def test_only_a_head_at_the_start_of_what_came_is_remembered() -> None:
    """Empty lines before a request line are skipped by llhttp: they are not remembered as
    that request's head (else two empty lines would later pass for a whole request)."""
    reader = RequestReader(max_body=1000)
    reader.feed(b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert reader.ready[0][0].target == b"/x"
    fresh = RequestReader(max_body=1000)
    fresh.feed(b"\r\n\r\n")
    fresh.feed(b"\r\n\r\n")
    assert not fresh.ready


def test_a_head_seen_before_still_meets_each_reader_s_body_limit() -> None:
    big = b"POST /b HTTP/1.1\r\nHost: lb\r\nContent-Length: 20\r\n\r\n"
    RequestReader(max_body=1000).feed(big + b"a" * 20)
    small = RequestReader(max_body=10)
    with pytest.raises(HttpError) as refused:
        small.feed(big + b"a" * 20)
    assert refused.value.status == 413 and not small.ready
