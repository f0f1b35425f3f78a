"""Just enough HTTP/1.1 (RFC 9112) for the proxy: heads, framing, chunked bodies.

Pure functions and one incremental decoder, no I/O: :mod:`cloud.lb.listener` parses what
clients send with them and :mod:`cloud.lb.upstream` what targets answer. Header names and
values stay bytes; lines the proxy relays are kept as they came (one ``name: value`` line
each) and only the hop-by-hop ones are dropped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import formatdate

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                        b"proxy-authorization", b"te", b"trailer", b"trailers",
                        b"transfer-encoding", b"upgrade", b"proxy-connection"})
MAX_HEAD = 65_536  # bytes of request line + headers (aiohttp's and nginx's order of magnitude)
MAX_CHUNK_LINE = 4_096
REASONS = {100: b"Continue", 200: b"OK", 400: b"Bad Request", 411: b"Length Required",
           413: b"Payload Too Large", 414: b"URI Too Long",
           431: b"Request Header Fields Too Large", 500: b"Internal Server Error",
           501: b"Not Implemented", 502: b"Bad Gateway",
           503: b"Service Temporarily Unavailable", 504: b"Gateway Time-out",
           505: b"HTTP Version Not Supported"}

_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) HTTP/(\d)\.(\d)")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: ([^\r\n]*))?")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(rb"[0-9]{1,18}")


class HttpError(Exception):
    """A message the proxy will not handle: ``status`` is the answer a client gets."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


@dataclass(slots=True)
class RequestHead:
    """A client's request line and headers, split the way a proxy needs them."""

    method: bytes
    target: bytes
    minor: int  # HTTP/1.<minor>
    lines: list[bytes]  # end-to-end header lines, as received
    host: bool  # a Host header came
    forwarded_for: bytes  # X-Forwarded-For as received (b"" when none)
    length: int | None  # Content-Length
    chunked: bool
    keep_alive: bool
    expect_continue: bool


@dataclass(slots=True)
class ResponseHead:
    """A target's status line and headers."""

    status: int
    reason: bytes
    lines: list[bytes]  # end-to-end header lines, as received
    length: int | None
    chunked: bool
    keep_alive: bool


def _content_length(value: bytes, previous: int | None) -> int:
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        raise ValueError(f"bad Content-Length {value[:40]!r}")
    length = int(value)
    if previous is not None and previous != length:
        raise ValueError("conflicting Content-Length headers")
    return length


def _tokens(value: bytes) -> set[bytes]:
    return {t.strip().lower() for t in value.split(b",")}


_WHITESPACE = (0x20, 0x09)  # SP, HTAB (as ints: indexing bytes gives ints)


def _split_headers(lines: list[bytes], read: frozenset[bytes],
                   relayed: frozenset[bytes] = frozenset()
                   ) -> tuple[list[bytes], dict[bytes, bytes], int | None]:
    """End-to-end lines (less the ``read`` ones not ``relayed``), the values of the ``read``
    headers (lowercase names; repeated ones joined with commas), and the Content-Length."""
    kept: list[bytes] = []
    special: dict[bytes, bytes] = {}
    length: int | None = None
    for line in lines:
        colon = line.find(b":")
        if colon <= 0:
            raise ValueError(f"header line without a name: {line[:40]!r}")
        if line[colon - 1] in _WHITESPACE or line[0] in _WHITESPACE:
            raise ValueError(f"whitespace around a header name: {line[:40]!r}")
        lower = line[:colon].lower()
        if lower in read:
            value = line[colon + 1:].strip()
            if lower == b"content-length":
                length = _content_length(value, length)
                special[lower] = value
            elif lower in special:
                special[lower] += b", " + value
            else:
                special[lower] = value
            if lower in relayed:
                kept.append(line)
        elif lower not in HOP_BY_HOP:
            kept.append(line)
    named = special.get(b"connection")
    if named:
        drop = _tokens(named) - {b"close", b"keep-alive"}
        if drop:  # headers the Connection header names are hop-by-hop too
            kept = [x for x in kept if x[:x.find(b":")].strip().lower() not in drop]
    return kept, special, length


_REQUEST_READ = frozenset({b"content-length", b"transfer-encoding", b"connection", b"host",
                           b"expect", b"x-forwarded-for", b"x-forwarded-proto",
                           b"x-forwarded-port"})
_RESPONSE_READ = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_HOST = frozenset({b"host"})  # read and relayed as it came


def parse_request_head(head: bytes) -> RequestHead:
    """The head of a client's request (without the blank line); HttpError when refused."""
    lines = head.split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        if len(lines[0]) > 8_190:
            raise HttpError(414, "the request line is too long")
        raise HttpError(400, "malformed request line")
    method, target, major, minor = match.groups()
    if major != b"1" or minor not in (b"0", b"1"):
        raise HttpError(505, f"HTTP/{major.decode()}.{minor.decode()} is not supported")
    try:
        kept, special, length = _split_headers(lines[1:], _REQUEST_READ, _HOST)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    version = minor == b"1"
    connection = special.get(b"connection")
    if connection is None:
        keep_alive = version
    else:
        tokens = _tokens(connection)
        keep_alive = b"close" not in tokens if version else b"keep-alive" in tokens
    coding = special.get(b"transfer-encoding")
    chunked = False
    if coding is not None:
        if length is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        codings = [c.strip().lower() for c in coding.split(b",")]
        if codings[-1] != b"chunked" or not version:
            raise HttpError(400, f"unsupported Transfer-Encoding {coding[:40]!r}: "
                                 f"only chunked is understood")
        if len(codings) > 1:
            raise HttpError(501, f"Transfer-Encoding {coding[:40]!r} is not implemented: "
                                 f"only chunked is understood")
        chunked = True
    if target[:1] != b"/" and target != b"*":  # absolute form: relay the origin form
        scheme, sep, rest = target.partition(b"://")
        if sep and scheme.lower() in (b"http", b"https"):
            path = rest[rest.find(b"/"):] if b"/" in rest else b"/"
            target = path
    expect = special.get(b"expect")
    return RequestHead(method, target, int(version), kept, b"host" in special,
                       special.get(b"x-forwarded-for", b""), length, chunked, keep_alive,
                       expect is not None and expect.lower() == b"100-continue")


def parse_response_head(head: bytes) -> ResponseHead:
    """The head of a target's answer (without the blank line); ValueError when malformed."""
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    minor, status, reason = match.groups()
    kept, special, length = _split_headers(lines[1:], _RESPONSE_READ)
    coding = special.get(b"transfer-encoding")
    chunked = False
    if coding is not None:
        chunked = coding.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
        if not chunked:
            raise ValueError(f"unsupported Transfer-Encoding {coding[:40]!r}")
        length = None
    connection = special.get(b"connection")
    if connection is None:
        keep_alive = minor == b"1"
    else:
        tokens = _tokens(connection)
        keep_alive = b"close" not in tokens if minor == b"1" else b"keep-alive" in tokens
    return ResponseHead(int(status), reason or b"", kept, length, chunked, keep_alive)


class ChunkedDecoder:
    """Incremental decoder of the chunked transfer coding; trailer fields are dropped.

    :meth:`feed` returns the payload pieces decoded so far; ``done`` turns true after the last
    chunk and its trailers, and ``tail`` then holds any bytes that came after the message.
    """

    __slots__ = ("_buf", "_left", "_state", "done", "size", "tail")

    _SIZE, _DATA, _DATA_END, _TRAILER = range(4)

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0
        self._state = self._SIZE
        self.done = False
        self.size = 0  # payload bytes decoded
        self.tail = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Decode ``data``; ValueError when the framing is malformed."""
        if self.done:
            self.tail += data
            return []
        buf = self._buf + data if self._buf else data
        pos, end, out = 0, len(buf), []
        while pos < end:
            if self._state == self._DATA:
                take = min(self._left, end - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self._left -= take
                self.size += take
                if not self._left:
                    self._state = self._DATA_END
                continue
            if self._state == self._DATA_END:
                if end - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise ValueError("chunk data not followed by CRLF")
                pos += 2
                self._state = self._SIZE
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > MAX_CHUNK_LINE:
                    raise ValueError("chunk size or trailer line too long")
                break
            line, pos = buf[pos:eol], eol + 2
            if self._state == self._TRAILER:
                if not line:
                    self.done, self.tail = True, buf[pos:]
                    self._buf = b""
                    return out
                continue
            size = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size):
                raise ValueError(f"bad chunk size {size[:20]!r}")
            self._left = int(size, 16)
            self._state = self._DATA if self._left else self._TRAILER
        self._buf = buf[pos:]
        return out


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of the chunked coding (empty data is the last chunk)."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n"


_date_second = 0
_date_line = b""


def date_line() -> bytes:
    """The ``Date`` header line (RFC 9110 IMF-fixdate), formatted at most once a second."""
    global _date_second, _date_line
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_line = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    return _date_line
