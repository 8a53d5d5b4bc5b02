"""A host whose helloworld.Greeter/SayHello runs the Lua chunk it is sent as the request's name,
so that a test of the handler's library states its handler code where it checks the result.

    with snippet_host() as host:
        values, code, details = run(host.greeter_stub(), "return shared.incr('n', 1, 0)")
        # values == [1]: what the chunk returned, as Python values (integer -> int, float ->
        # float, boolean -> bool, nil -> None, string -> str)

The chunk sees `call` (the call object) and `state` (a number told apart each worker's Lua
state: the order in which they loaded), besides the globals.
"""

import os
import shutil
import tempfile

import grpc

from harness import Host, HostTestCase, pb, rpc

SCRIPT = """
local M = { service = "helloworld.Greeter" }
local VERSION = "%(version)s"
local state = shared.incr("test:states", 1, 0)

-- Each value as type:length:text, so that integers, floats, nil and strings come back apart.
local function encode(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    local s = tostring(v)
    out[#out + 1] = (math.type(v) or type(v)) .. ":" .. #s .. ":" .. s
  end
  return table.concat(out)
end

function M.SayHello(req, call)
  local env = setmetatable({ call = call, state = state, VERSION = VERSION }, { __index = _G })
  local chunk = assert(load(req.name, "=snippet", "t", env))
  return { message = encode(chunk()) }
end

return M
"""


def script(version="v1"):
    return SCRIPT % {"version": version}


def snippet_host(version="v1", **kw):
    """A Host (not started) serving only the snippet script, from a directory it removes when
    the host goes."""
    d = tempfile.mkdtemp(prefix="snippets-")
    with open(os.path.join(d, "greeter.lua"), "w") as f:
        f.write(script(version))
    host = Host(scripts=d, **kw)
    shutil.rmtree(d, True)          # Host copied the script into a directory of its own
    return host


def decode(text):
    values, i = [], 0
    while i < len(text):
        kind, i = text[i:text.index(":", i)], text.index(":", i) + 1
        n, i = int(text[i:text.index(":", i)]), text.index(":", i) + 1
        s, i = text[i:i + n], i + n
        values.append({"integer": int, "float": float, "boolean": lambda v: v == "true",
                       "nil": lambda v: None}.get(kind, lambda v: v)(s))
    return values


def run(stub, chunk, timeout=30, metadata=None):
    """Runs chunk as a handler: (its return values, status code, status message)."""
    resp, code, details, _ = rpc(stub.SayHello, pb.helloworld.HelloRequest(name=chunk),
                                 timeout=timeout, metadata=metadata)
    return (decode(resp.message) if code == grpc.StatusCode.OK else None), code, details


def ok(stub, chunk, **kw):
    """Runs chunk as a handler that must succeed; its return values."""
    values, code, details = run(stub, chunk, **kw)
    if code != grpc.StatusCode.OK:
        raise AssertionError("%s failed: %s %s" % (chunk, code, details))
    return values


def stub_per_worker(host, workers=2, tries=16):
    """A stub for each worker: on connections whose calls the host gives to different workers
    (it gives a connection's calls to one worker first, chosen when it accepts it)."""
    found = {}
    for _ in range(tries):
        stub = host.greeter_stub(own_connection=True)
        found.setdefault(ok(stub, "return state")[0], stub)
        if len(found) == workers:
            return list(found.values())
    raise AssertionError("%d connections all went to the same worker(s): %r" % (tries, list(found)))


class SnippetTestCase(HostTestCase):
    """HostTestCase on a snippet host started with host_options."""

    @classmethod
    def setUpClass(cls):
        cls.host = snippet_host(**cls.host_options)
        cls.host.__enter__()

    def setUp(self):
        self.stub = self.host.greeter_stub()
