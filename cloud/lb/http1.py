"""Just enough HTTP/1.1 (RFC 9112) for the proxy: heads, framing, chunked bodies.

No I/O. What clients send is read by :class:`RequestReader`, a strict incremental parser on
llhttp (Node.js's parser, through httptools, as uvicorn uses it): :mod:`cloud.lb.listener`
feeds it the bytes of a connection and gets whole requests, or an :class:`HttpError` to
answer before closing. It is as strict as ALB's "strictest" desync mitigation mode (only
requests that comply with the RFC reach a target): a bare CR or LF, NUL or other control
bytes, an invalid header name, whitespace before a colon, obs-fold, both Content-Length and
Transfer-Encoding, a repeated Content-Length, a bad chunk size, two Host headers are all
refused, and what a target gets is rebuilt from the parsed fields (one ``name: value`` line
each, hop-by-hop ones dropped), never the bytes as received. What targets answer is parsed
by :func:`parse_response_head` and :class:`ChunkedDecoder` (:mod:`cloud.lb.upstream`).

ALB's limits and answers (Elastic Load Balancing user guide, "Quotas for your Application
Load Balancers" > HTTP headers, and "Troubleshoot your Application Load Balancers" > HTTP 400,
405, 463, 501): request line 16K, a single header 16K, the whole request header 64K, and over
any of them ALB answers **400** (not 414 or 431); TRACE gets 405; an X-Forwarded-For of more
than 30 addresses 463; a Transfer-Encoding other than chunked 501.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate

import httptools

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                        b"proxy-authorization", b"te", b"trailer", b"trailers",
                        b"transfer-encoding", b"upgrade", b"proxy-connection"})
# ALB's quotas (user guide, Quotas > HTTP headers): request line 16K, single header 16K, whole
# request header 64K; over any of them ALB answers 400 (Troubleshooting > HTTP 400).
MAX_REQUEST_LINE = 16_384
MAX_HEADER = 16_384
MAX_HEAD = 65_536  # request line + headers; also the bound on a target's answer head
MAX_FORWARDED_FOR = 30  # addresses in X-Forwarded-For; more: ALB's 463 (Troubleshooting)
MAX_CHUNK_LINE = 4_096
REASONS = {100: b"Continue", 200: b"OK", 400: b"Bad Request", 405: b"Method Not Allowed",
           408: b"Request Timeout", 411: b"Length Required",
           413: b"Payload Too Large", 414: b"URI Too Long",
           431: b"Request Header Fields Too Large", 463: b"", 500: b"Internal Server Error",
           501: b"Not Implemented", 502: b"Bad Gateway",
           503: b"Service Temporarily Unavailable", 504: b"Gateway Time-out",
           505: b"HTTP Version Not Supported"}

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


_RESPONSE_READ = frozenset({b"content-length", b"transfer-encoding", b"connection"})
# Request headers the reader looks at; none of them is relayed as received except Host.
_CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION = b"content-length", b"transfer-encoding", \
    b"connection"
_HOST, _EXPECT, _FORWARDED_FOR = b"host", b"expect", b"x-forwarded-for"
_REQUEST_SPECIAL = frozenset({_CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION, _HOST, _EXPECT,
                              _FORWARDED_FOR, b"x-forwarded-proto", b"x-forwarded-port",
                              *HOP_BY_HOP})
# A Host value: uri-host [":" port] (RFC 9110 §7.2, RFC 3986 reg-name / IPv4 / IP-literal).
_HOST_VALUE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?")


# Heads llhttp accepted before, by their bytes (the same bytes get the same verdict): a request
# whose head is one of them and whose body has come whole is taken without llhttp's callbacks.
# Only heads of kept-alive requests framed by a Content-Length (or without a body), no
# Expect, no Upgrade, up to KNOWN_HEAD_MAX bytes. Their RequestHead is shared: read-only.
_KNOWN_HEADS: dict[bytes, RequestHead] = {}
KNOWN_HEADS = 256
KNOWN_HEAD_MAX = 4096


class RequestReader:
    """The requests on one client connection, parsed strictly and incrementally.

    :meth:`feed` takes bytes as they come; each complete request lands in ``ready`` as
    ``(RequestHead, body)`` (a chunked body de-chunked, trailers dropped). A malformed or
    refused request raises :class:`HttpError` (answer it after the ``ready`` ones, then close:
    nothing after it on that connection can be trusted). ``continue_wanted``: the request in
    progress asked for ``Expect: 100-continue`` and its body has not come yet.
    """

    __slots__ = ("_body", "_candidate", "_chunked", "_connection", "_error", "_expect",
                 "_forwarded", "_head", "_host", "_hosts", "_in_body", "_known", "_length",
                 "_lines", "_max_body", "_parser", "_pending", "_received", "_size", "_url",
                 "continue_wanted", "ready", "started")

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._parser = httptools.HttpRequestParser(self)
        self.ready: deque[tuple[RequestHead, bytes]] = deque()
        self.started = False  # a request has begun and is not whole yet
        self.continue_wanted = False
        self._in_body = False  # its head is parsed: what comes is body (or trailers)
        self._pending = 0  # bytes fed since the head in progress began (an upper bound)
        self._error: HttpError | None = None
        self._head: RequestHead | None = None
        self._candidate = b""  # the head at the start of what was fed (to remember it)
        self._known = False  # the request being parsed may be remembered (see _KNOWN_HEADS)
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._lines: list[bytes] = []
        self._size = 0
        self._length: int | None = None
        self._chunked = False
        self._connection = b""
        self._host = b""
        self._hosts = 0
        self._expect = b""
        self._forwarded = b""
        self._body: list[bytes] = []
        self._received = 0

    @property
    def in_head(self) -> bool:
        """A request's head has begun and is not whole yet."""
        return self.started and not self._in_body

    def feed(self, data: bytes) -> None:
        """Parse ``data``; HttpError when what came is refused."""
        if not self.started and not self._in_body:  # between requests
            data = self._take_known(data)
            if not data:
                return
        if not self._in_body:
            self._pending += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # llhttp stops after a request with ``Connection: upgrade``: the kit relays it
            # without its Upgrade header (no tunnels) and reads what follows afresh.
            self._parser = httptools.HttpRequestParser(self)
            rest = data[upgrade.args[0]:]
            if rest:
                self._pending = 0
                self.feed(rest)
            return
        except httptools.HttpParserError as exc:
            error, self._error = self._error, None
            raise error or HttpError(400, f"malformed request ({exc})") from None
        if self.started and not self._in_body and self._pending > MAX_HEAD:
            raise HttpError(400, "request header over 64K (ALB's limit)")

    def _take_known(self, data: bytes) -> bytes:
        """Take the whole requests at the start of ``data`` whose heads llhttp accepted
        before; the rest is llhttp's (its parser is between requests, as it would be after
        parsing these). Notes the head in front of that rest, to remember it if accepted."""
        while True:
            end = data.find(b"\r\n\r\n", 0, KNOWN_HEAD_MAX)
            if end < 0:
                self._candidate = b""
                return data
            stop = end + 4
            head = _KNOWN_HEADS.get(data[:stop])
            if head is None:
                self._candidate = data[:stop]
                return data
            length = head.length or 0
            if length > self._max_body or len(data) < stop + length:
                self._candidate = b""
                return data  # llhttp answers, or waits for the body
            self.ready.append((head, data[stop:stop + length]))
            data = data[stop + length:]
            if not data:
                return data

    def _fail(self, error: HttpError) -> None:
        self._error = error
        raise error

    # ---- llhttp's callbacks ----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:  # a request's first callback (no on_message_begin)
        self.started = True
        self._url += url
        if len(self._url) > MAX_REQUEST_LINE:
            self._fail(HttpError(400, "request line over 16K (ALB's limit)"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_body:
            return  # a trailer field: dropped
        size = len(name) + len(value)
        if size > MAX_HEADER:
            self._fail(HttpError(400, f"header {name[:40]!r} over 16K (ALB's limit)"))
        self._size += size + 4
        lower = name.lower()
        if lower not in _REQUEST_SPECIAL:
            self._lines.append(name + b": " + value)
        elif lower == _CONTENT_LENGTH:  # llhttp: digits only, never twice, never with TE
            self._length = int(value)
        elif lower == _TRANSFER_ENCODING:
            if value.strip().lower() != b"chunked":
                # ALB answers 501 to a Transfer-Encoding it does not support (Troubleshooting
                # > HTTP 501); "identity" too: RFC 9112 no longer defines it.
                self._fail(HttpError(501, f"Transfer-Encoding {value[:40]!r} is not "
                                          f"implemented: only chunked is understood"))
            self._chunked = True
        elif lower == _HOST:
            self._hosts += 1
            self._host = value
            self._lines.append(b"Host: " + value)
        elif lower == _CONNECTION:
            self._connection = self._connection + b"," + value if self._connection else value
        elif lower == _FORWARDED_FOR:
            self._forwarded = self._forwarded + b", " + value if self._forwarded else value
        elif lower == _EXPECT:
            self._expect = value
        # other hop-by-hop headers and X-Forwarded-Proto/-Port (the proxy sets its own): dropped

    def on_headers_complete(self) -> None:
        parser = self._parser
        method = parser.get_method()
        version = parser.get_http_version()
        self._check(method, version)
        target = self._url
        if target[:1] != b"/" and target != b"*":  # absolute form: relay the origin form
            rest = target.partition(b"://")[2]
            slash = rest.find(b"/")
            target = rest[slash:] if slash >= 0 else b"/"
        lines = self._lines
        if self._connection:  # headers the Connection header names are hop-by-hop too
            drop = {t.strip().lower() for t in self._connection.split(b",")}
            drop -= {b"close", b"keep-alive"}
            if drop:
                lines = [x for x in lines if x[:x.find(b":")].lower() not in drop]
        length = self._length
        if length is not None and length > self._max_body:
            self._fail(HttpError(413, f"request body over {self._max_body >> 20} MiB"))
        self._in_body = True
        self._pending = 0
        self.continue_wanted = (self._expect.lower() == b"100-continue"
                                and (self._chunked or bool(length)))
        keep_alive = parser.should_keep_alive()
        self._head = RequestHead(method, target, 1 if version == "1.1" else 0, lines,
                                 self._hosts == 1, self._forwarded, length, self._chunked,
                                 keep_alive, self.continue_wanted)
        # the head noted in front of what was fed is this one: it begins with this request
        # line (nothing skipped before it), and an accepted head ends at its first CRLFCRLF
        self._known = (keep_alive and not self._chunked and not self._expect
                       and not parser.should_upgrade() and self._candidate.startswith(
                           b"%s %s HTTP/" % (method, self._url)))

    def _check(self, method: bytes, version: str) -> None:
        """What llhttp lets through and ALB (or RFC 9112) does not."""
        if version not in ("1.1", "1.0"):
            if version == "0.9":  # no HTTP-version at all
                self._fail(HttpError(400, "malformed request line"))
            self._fail(HttpError(505, f"HTTP/{version} is not supported"))
        if len(method) + len(self._url) + 10 > MAX_REQUEST_LINE:
            self._fail(HttpError(400, "request line over 16K (ALB's limit)"))
        if self._size > MAX_HEAD:
            self._fail(HttpError(400, "request header over 64K (ALB's limit)"))
        if method == b"TRACE":  # Troubleshooting > HTTP 405
            self._fail(HttpError(405, "ALB does not support the TRACE method"))
        if method == b"CONNECT" or self._url[:1] not in (b"/", b"*", b"h", b"H"):
            self._fail(HttpError(400, "only origin-form and absolute-form targets"))
        if self._hosts > 1:
            self._fail(HttpError(400, "more than one Host header"))
        if version == "1.1" and not self._hosts:  # RFC 9112 §3.2: a server MUST answer 400
            self._fail(HttpError(400, "an HTTP/1.1 request without a Host header"))
        if self._hosts and not _HOST_VALUE.fullmatch(self._host):
            self._fail(HttpError(400, f"invalid Host {self._host[:40]!r}"))
        if self._chunked and version == "1.0":  # RFC 9112 §6.1: faulty framing
            self._fail(HttpError(400, "Transfer-Encoding in an HTTP/1.0 request"))
        if self._forwarded and self._forwarded.count(b",") >= MAX_FORWARDED_FOR:
            self._fail(HttpError(463, f"X-Forwarded-For holds more than "
                                      f"{MAX_FORWARDED_FOR} addresses"))
        if self._parser.should_upgrade() and (self._chunked or self._length):
            self._fail(HttpError(400, "a body with Connection: upgrade"))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._received += len(body)
        self.continue_wanted = False
        if self._received > self._max_body:
            self._fail(HttpError(413, f"request body over {self._max_body >> 20} MiB"))

    def on_message_complete(self) -> None:
        parts = self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        self.ready.append((self._head, body))
        if self._known:  # accepted, and its head was at the start of what was fed
            self._known = False
            if len(_KNOWN_HEADS) >= KNOWN_HEADS:
                _KNOWN_HEADS.clear()
            _KNOWN_HEADS[self._candidate] = self._head  # type: ignore[assignment]
        self._candidate = b""
        self.started = self._in_body = self.continue_wanted = False
        self._reset()


def parse_request_head(head: bytes) -> RequestHead:
    """One request head (without its blank line), parsed as :class:`RequestReader` does;
    HttpError when refused."""
    reader = RequestReader(max_body=1 << 62)
    reader.feed(head + b"\r\n\r\n")
    parsed = reader.ready[0][0] if reader.ready else reader._head
    if parsed is None:
        raise HttpError(400, "no request line")
    return parsed

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


# The usual answer head, checked in one pass: the status line, then header lines whose names
# are tokens (RFC 9110 §5.1) right before the colon and whose values hold no CR or LF.
_STATUS_START = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: ([^\r\n]*))?")
_PLAIN_LINES = re.compile(rb"(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*)*")
# The lines the proxy reads or drops (hop-by-hop ones, Content-Length: the listener adds its own)
_RESPONSE_SPECIAL = re.compile(
    rb"\r\n(" + b"|".join(sorted(HOP_BY_HOP | {b"content-length"}, key=len, reverse=True))
    + rb"):([^\r\n]*)", re.IGNORECASE)


ParsedResponse = tuple[int, bytes, bytes, "int | None", bool, bool]
_RESPONSE_CACHE: dict[bytes, ParsedResponse] = {}
RESPONSE_CACHE_SIZE = 256  # distinct heads remembered (a target's heads differ little)


def response_head(head: bytes) -> ParsedResponse:
    """A target's answer head (without the blank line) as ``(status, reason, end-to-end header
    lines each ending with CRLF, Content-Length, chunked, keep-alive)``: what
    :func:`parse_response_head` gives. The result is a function of the bytes alone, so the
    heads seen last are remembered (a target sends the same head but for its Date and
    Content-Length); the usual head is found without splitting it line by line (anything
    unusual takes that function's path). ValueError when malformed."""
    parsed = _RESPONSE_CACHE.get(head)
    if parsed is None:
        parsed = _response_head(head)
        if len(_RESPONSE_CACHE) >= RESPONSE_CACHE_SIZE:
            _RESPONSE_CACHE.clear()
        _RESPONSE_CACHE[head] = parsed
    return parsed


def _response_head(head: bytes) -> ParsedResponse:
    match = _STATUS_START.match(head)
    if match is not None:
        block = head[match.end():]
        if _PLAIN_LINES.fullmatch(block):
            fast = _plain_response(match, block)
            if fast is not None:
                return fast
    parsed = parse_response_head(head)
    headers = b"\r\n".join(parsed.lines) + b"\r\n" if parsed.lines else b""
    return (parsed.status, parsed.reason, headers, parsed.length, parsed.chunked,
            parsed.keep_alive)


def _plain_response(match: re.Match[bytes], block: bytes) -> ParsedResponse | None:
    """The fast path of :func:`response_head` (None: take the line-by-line path): at most one
    Content-Length, at most one Connection naming only close/keep-alive, no Transfer-Encoding."""
    minor, status, reason = match.groups()
    length: int | None = None
    connection: bytes | None = None
    kept: list[bytes] = []
    start = 0
    for special in _RESPONSE_SPECIAL.finditer(block):
        name = special.group(1).lower()
        if name == b"content-length":
            value = special.group(2).strip()
            if length is not None or not _DIGITS.fullmatch(value):
                return None
            length = int(value)
        elif name == b"connection":
            if connection is not None:
                return None
            connection = special.group(2)
        elif name == b"transfer-encoding":
            return None
        kept.append(block[start:special.start()])
        start = special.end()
    if start:
        kept.append(block[start:])
        block = b"".join(kept)
    if connection is None:
        keep_alive = minor == b"1"
    else:
        tokens = _tokens(connection)
        if tokens - {b"close", b"keep-alive"}:
            return None  # it names headers to drop: the line-by-line path does that
        keep_alive = b"close" not in tokens if minor == b"1" else b"keep-alive" in tokens
    headers = block[2:] + b"\r\n" if block else b""
    return int(status), reason or b"", headers, length, False, keep_alive


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
