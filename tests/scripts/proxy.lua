-- outboundtest.Proxy (tests/proto/outbound.proto): every method calls a backend with the
-- outbound gRPC client; tests/test_outbound.py drives it.

local M = { service = "outboundtest.Proxy" }

-- One client per target and CA, made on first use and kept: channels are the worker's.
local clients = {}

-- The client options the request metadata asks for.
local function options(md)
  local opts = { metadata = { ["x-forwarded-by"] = "proxy" } }
  if md["x-tls-ca"] then
    opts.tls = { ca = md["x-tls-ca"], cert = md["x-tls-cert"], key = md["x-tls-key"] }
    opts.authority = md["x-authority"]
  end
  return opts
end

local function backend(call)
  local md = call.metadata
  local target = assert(md["x-backend"], "x-backend metadata missing")
  local key = table.concat({ target, md["x-tls-ca"] or "", md["x-tls-cert"] or "", md["x-authority"] or "" }, "|")
  local c = clients[key]
  if not c then
    c = grpc.client(target, options(md))
    clients[key] = c
  end
  return c
end

local function opts(call)
  local t = tonumber(call.metadata["x-timeout"])
  return { timeout = t }
end

function M.Echo(req, call)
  return (backend(call):call("hosttest.Test/Echo", req, opts(call)))
end

function M.Fail(req, call)
  return (backend(call):call("/hosttest.Test/Fail", req, opts(call)))
end

function M.Sleep(req, call)
  return (backend(call):call("hosttest.Test/Sleep", req, opts(call)))
end

-- The backend's x- headers and trailers, as trailers backend-h-* and backend-t-*.
local function pass_on(headers, trailers, call)
  for k, v in pairs(headers or {}) do
    if k:sub(1, 2) == "x-" then call:set_trailer("backend-h-" .. k:sub(3), v) end
  end
  for k, v in pairs(trailers or {}) do
    if k:sub(1, 2) == "x-" then call:set_trailer("backend-t-" .. k:sub(3), v) end
  end
end

function M.Metadata(req, call)
  local o = opts(call)
  o.metadata = { ["x-from-proxy"] = "yes" }
  local reply, info = backend(call):call("hosttest.Test/Metadata", req, o)
  pass_on(info.headers, info.trailers, call)
  return reply
end

function M.Range(req, call)
  local s = backend(call):stream("hosttest.Test/Range", opts(call))
  s:send(req)
  s:close_send()
  for item in s:messages() do call:send(item) end
  pass_on(s.headers, s.trailers, call)
end

function M.Sum(call)
  local s = backend(call):stream("hosttest.Test/Sum", opts(call))
  for item in call:messages() do s:send(item) end
  s:close_send()
  local reply = s:recv()
  assert(s:recv() == nil, "a second reply")
  return reply
end

function M.BidiEcho(call)
  local s = backend(call):stream("hosttest.Test/BidiEcho", opts(call))
  for item in call:messages() do
    s:send(item)
    call:send(s:recv())
  end
  s:close_send()
  assert(s:recv() == nil, "a reply after the last")
end

function M.Greet(req, call)
  local reply = backend(call):call("helloworld.Greeter/SayHello", { name = req.text }, opts(call))
  return { text = reply.message }
end

-- The cases Probe runs: each raises, or returns normally.
local probes = {
  unknown_method = function(c) c:call("hosttest.Test/NoSuchMethod", {}) end,
  wrong_kind = function(c) c:call("hosttest.Test/Range", {}) end,
  wrong_kind_stream = function(c) c:stream("hosttest.Test/Echo") end,
  bad_request = function(c) c:call("hosttest.Test/Echo", { count = "x" }) end,
  not_a_table = function(c) c:call("hosttest.Test/Echo", 42) end,
  bad_metadata = function(c) c:call("hosttest.Test/Echo", {}, { metadata = { ["Bad Key"] = "v" } }) end,
  bad_timeout = function(c) c:call("hosttest.Test/Echo", {}, { timeout = -1 }) end,
  call = function(c) c:call("hosttest.Test/Echo", { text = "probe" }, { timeout = 5 }) end,
  call_short = function(c) c:call("hosttest.Test/Echo", { text = "probe" }, { timeout = 0.5 }) end,
  -- Opens a stream, reads its first reply and returns with the stream open: the host cancels it.
  abandon = function(c, req)
    local s = c:stream("hosttest.Test/SleepForever")
    s:send({ tag = req.tag })
    s:close_send()
    assert(s:recv(), "no first reply")
    return true
  end,
  send_after_close = function(c)
    local s = c:stream("hosttest.Test/Sum")
    s:close_send()
    s:send({ seq = 1 })
  end,
  stream_cancel = function(c)
    local s = c:stream("hosttest.Test/BidiEcho")
    s:cancel()
    s:recv()
  end,
}

function M.Probe(req, call)
  local run = assert(probes[req.mode], "no such probe: " .. req.mode)
  local ok, err = pcall(run, grpc.client(req.target, options(call.metadata)), req)
  if ok then return { ok = true } end
  if type(err) == "table" then
    return { code = err.code, message = err.message, text = tostring(err), target = err.target,
             method = err.method }
  end
  return { message = tostring(err), text = tostring(err) }
end

return M
