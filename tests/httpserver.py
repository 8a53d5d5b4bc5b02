"""HTTP/1.1 servers for the tests of outbound HTTP: plain or TLS, with a test CA made by openssl.

    with HttpServer() as srv:                     # http://127.0.0.1:srv.port
    with HttpServer(tls=TestCA(tmpdir)) as srv:   # https, a certificate for localhost from the CA
    class T(ServersTestCase): ...                 # self.http and self.https for each test

One asyncio loop on a thread of its own serves every connection, so a few hundred requests
waiting at once cost nothing. What it has seen (connections accepted, closed, requests) is
kept for the tests to read. Routes, by path (query arguments in brackets):
  /echo            200, JSON of the request: method, path, query, headers (lower case), body
  /delay [ms]      200 "slept" after ms milliseconds
  /chunked [n]     200, a chunked body of n chunks "chunk i\\n"
  /big [n]         200, n bytes "x" with a content-length
  /bigchunked [n]  200, n bytes "x" in chunks of 64 KiB
  /noframe [n]     200, n bytes "x" with neither length nor chunks: read until the server closes
  /close           200 "bye" with connection: close, then closes
  /status [code]   that status, body "status <code>"
  /dup             two x-dup headers and two set-cookie headers
  /early           103 Early Hints, then 200 "final"
  /hang            reads the request and never answers (until the client closes)
  /stale           200 "fresh", then closes the connection unanswered at its next request
  /reset           reads the request and resets the connection
  /garbage         answers with bytes that are no HTTP
  /stats           200, JSON of what the server has seen
"""

import asyncio
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import unittest
import urllib.parse


class TestCA:
    """A CA and a server certificate for `localhost` (DNS name only: https://127.0.0.1 does not
    match it), made with the openssl command in directory d."""

    def __init__(self, d, name="localhost"):
        self.dir = d
        self.ca_key, self.ca_cert = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
        self.key, self.cert = os.path.join(d, "server.key"), os.path.join(d, "server.pem")

        def openssl(*args):
            subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2",
                "-subj", "/CN=host test CA")
        csr = os.path.join(d, "server.csr")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", self.key, "-out", csr, "-subj", "/CN=" + name)
        ext = os.path.join(d, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n" % name)
        openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", ext)

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = 0
        self.closed = 0
        self.requests = 0

    def snapshot(self):
        with self.lock:
            return {"accepted": self.accepted, "closed": self.closed, "requests": self.requests}


class HttpServer:
    def __init__(self, tls=None):
        self.tls = tls
        self.stats = Stats()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None
        self.port = None
        self.tasks = set()

    @property
    def origin(self):
        return ("https://localhost:%d" if self.tls else "http://127.0.0.1:%d") % self.port

    def __enter__(self):
        self.thread.start()
        ctx = self.tls.server_context() if self.tls else None
        start = asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ctx, backlog=1024)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc):
        async def stop():
            self.server.close()
            for t in list(self.tasks):
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def count(self, key):
        return self.stats.snapshot()[key]

    # --- serving ---------------------------------------------------------------------------
    async def _serve(self, reader, writer):
        task = asyncio.current_task()
        self.tasks.add(task)
        with self.stats.lock:
            self.stats.accepted += 1
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self.tasks.discard(task)
            with self.stats.lock:
                self.stats.closed += 1
            writer.close()

    async def _one(self, reader, writer):
        """Serves one request; False when the connection is to end."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        with self.stats.lock:
            self.stats.requests += 1
        url = urllib.parse.urlsplit(target)
        args = dict(urllib.parse.parse_qsl(url.query))
        keep = headers.get("connection", "").lower() != "close"
        route = getattr(self, "_r_" + url.path.strip("/"), None)
        if route is None:
            return self._reply(writer, 404, b"no route " + url.path.encode(), keep)
        return await route(writer, keep, reader=reader, method=method, path=url.path,
                           query=url.query, headers=headers, body=body, args=args)

    def _reply(self, writer, status, body, keep=True, extra=()):
        head = ["HTTP/1.1 %d X" % status, "Content-Length: %d" % len(body)] + list(extra)
        if not keep:
            head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        return keep

    async def _r_echo(self, writer, keep, method, path, query, headers, body, **_):
        doc = {"method": method, "path": path, "query": query, "headers": headers,
               "body": body.decode("latin-1")}
        return self._reply(writer, 200, json.dumps(doc).encode(), keep,
                           ["Content-Type: application/json"])

    async def _r_delay(self, writer, keep, args, **_):
        await asyncio.sleep(int(args.get("ms", "1000")) / 1000)
        return self._reply(writer, 200, b"slept", keep)

    async def _r_chunked(self, writer, keep, args, **_):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(int(args.get("n", "3"))):
            chunk = b"chunk %d\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return keep

    async def _r_big(self, writer, keep, args, **_):
        return self._reply(writer, 200, b"x" * int(args["n"]), keep)

    async def _r_bigchunked(self, writer, keep, args, **_):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        left = int(args["n"])
        while left > 0:
            n = min(left, 65536)
            writer.write(b"%x\r\n%s\r\n" % (n, b"x" * n))
            await writer.drain()
            left -= n
        writer.write(b"0\r\n\r\n")
        return keep

    async def _r_noframe(self, writer, keep, args, **_):
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * int(args.get("n", "5")))
        await writer.drain()
        return False

    async def _r_close(self, writer, keep, **_):
        self._reply(writer, 200, b"bye", False)
        await writer.drain()
        return False

    async def _r_status(self, writer, keep, args, **_):
        code = int(args.get("code", "500"))
        return self._reply(writer, code, b"status %d" % code, keep)

    async def _r_dup(self, writer, keep, **_):
        return self._reply(writer, 200, b"dup", keep,
                           ["X-Dup: a", "X-Dup: b", "Set-Cookie: a=1", "Set-Cookie: b=2"])

    async def _r_early(self, writer, keep, **_):
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        return self._reply(writer, 200, b"final", keep)

    async def _r_hang(self, writer, keep, reader, **_):
        await reader.read()              # until the client goes
        return False

    async def _r_stale(self, writer, keep, reader, **_):
        self._reply(writer, 200, b"fresh", keep)
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")   # the next request on this connection: dropped
        return False

    async def _r_reset(self, writer, keep, **_):
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    async def _r_garbage(self, writer, keep, **_):
        writer.write(b"HELLO THERE\r\n\r\n")
        await writer.drain()
        return False

    async def _r_stats(self, writer, keep, **_):
        return self._reply(writer, 200, json.dumps(self.stats.snapshot()).encode(), keep)


class FullBacklog:
    """A port on 127.0.0.1 whose listen queue is full: a connect to it gets no answer (the SYN
    is dropped), as with a dead host, without leaving this machine."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []

    def __enter__(self):
        # Linux queues backlog + 1 connections; one more socket is a margin.
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)
        return self

    def __exit__(self, *exc):
        for s in self.fillers:
            s.close()
        self.sock.close()


def closed_port():
    """A port of 127.0.0.1 that nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ServersTestCase(unittest.TestCase):
    """A test CA (self.ca, in self.tmp) for the class; an HTTP server (self.http) and an HTTPS
    server with a certificate of the CA (self.https) for each test."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="httptest-")
        cls.ca = TestCA(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def setUp(self):
        self.http = HttpServer().__enter__()
        self.https = HttpServer(tls=self.ca).__enter__()

    def tearDown(self):
        self.http.__exit__(None, None, None)
        self.https.__exit__(None, None, None)
