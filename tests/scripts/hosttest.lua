-- Handlers of hosttest.Test (tests/proto/hosttest.proto), driven by tests/test_*.py.
-- The file name does not match the service's simple name, so the `service` field picks it.
-- Lines marked `-- MARK:` are looked up by the tests (error line numbers).

local M = { service = "hosttest.Test" }

-- What the stoppable handlers recorded, by tag. Per worker (lua_State): the tests that
-- read it run the host with --workers 1.
local stops = {}

local function report(tag)
  local s = stops[tag]
  if not s then
    s = { started = 0, stopped = 0, finished = 0, progress = 0, reason = "" }
    stops[tag] = s
  end
  return s
end

-- Starts tracking one handler under tag. Returns the record, a to-be-closed guard (closed
-- when the handler's coroutine is unwound or closed by the host) and the two ways to end.
local function track(tag)
  local s = report(tag)
  s.started = s.started + 1
  local over = false
  local function stopped(reason)
    if over then return end
    over = true
    s.stopped = s.stopped + 1
    s.reason = reason
  end
  local function finished()
    if over then return end
    over = true
    s.finished = s.finished + 1
  end
  local guard = setmetatable({}, { __close = function(_, err)
    stopped(err ~= nil and tostring(err) or "closed")
  end })
  return s, guard, stopped, finished
end

-- Runs body() and records how it ended; a stop (an error at a yield point) is re-raised.
local function stoppable(tag, body)
  local s, guard <close>, stopped, finished = track(tag)
  local ok, err = pcall(body, s)
  if ok then
    finished()
    return err
  end
  stopped(tostring(err))
  error(err, 0)
end

function M.Echo(req, call)
  return req
end

function M.Fail(req, call)
  local code = req.code
  if req.name ~= "" then code = req.name end
  grpc.error(code, req.message)
end

function M.FailStream(req, call)
  for i = 1, req.sends do
    call:send({ seq = i })
  end
  grpc.error(req.name ~= "" and req.name or req.code, req.message)
end

function M.LuaError(req, call)
  local t = nil
  return t.field -- MARK: lua-error
end

function M.Codes(req, call)
  local codes = {}
  for name, code in pairs(grpc.status) do
    if type(code) == "number" then codes[name] = code end
  end
  return { codes = codes }
end

function M.Metadata(req, call)
  if req.header_key ~= "" then call:set_header(req.header_key, req.header_value) end
  if req.trailer_key ~= "" then call:set_trailer(req.trailer_key, req.trailer_value) end
  local md = {}
  for k, v in pairs(call.metadata) do md[k] = v end
  return { metadata = md }
end

function M.Info(req, call)
  local g = require "grpc"
  return {
    method = call.method,
    peer = call.peer,
    request_id = call.request_id or "",
    has_request_id = call.request_id ~= nil,
    require_grpc_is_global = g == grpc,
    now = grpc.now(),
    cancelled = call:cancelled(),
    protocol = call.protocol,
  }
end

function M.Deadline(req, call)
  local d = call.deadline
  return { has_deadline = d ~= nil, seconds = d or 0 }
end

function M.Sleep(req, call)
  local t0 = grpc.now()
  if req.tag == "" then
    grpc.sleep(req.seconds)
  else
    stoppable(req.tag, function(s)
      grpc.sleep(req.seconds)
      s.progress = s.progress + 1
    end)
  end
  return { slept = grpc.now() - t0 }
end

function M.Range(req, call)
  for i = 1, req.count do
    call:send({ seq = i, payload = req.payload })
  end
end

function M.Sum(call)
  local sum, count = 0, 0
  for item in call:messages() do
    sum = sum + item.seq
    count = count + 1
  end
  return { sum = sum, count = count }
end

function M.BidiEcho(call)
  for item in call:messages() do
    call:send(item)
  end
end

function M.Burst(call)
  for item in call:messages() do
    for i = 1, item.seq do
      call:send({ seq = i, tag = item.tag })
    end
    if item.tag == "sleep" then grpc.sleep(3600) end
  end
end

function M.Forever(req, call)
  stoppable(req.tag, function(s)
    local i = 0
    while true do
      i = i + 1
      call:send({ seq = i, tag = req.tag, payload = string.rep("x", 1024) })
      s.progress = s.progress + 1
    end
  end)
end

function M.SleepForever(req, call)
  call:send({ seq = 0, tag = req.tag })
  stoppable(req.tag, function(s)
    while true do
      grpc.sleep(0.05)
      s.progress = s.progress + 1
    end
  end)
end

function M.Waiter(call)
  local first = call:recv()
  if not first then return end
  call:send(first)
  stoppable(first.tag, function(s)
    while call:recv() do
      s.progress = s.progress + 1
    end
  end)
end

function M.Stopped(req, call)
  return report(req.tag)
end

local wrong = {
  type = function() return { count = "abc" } end,
  nested = function() return { items = { { id = 1, name = "a" }, { id = "x", name = "b" } } } end,
  unknown_field = function() return { count = 1, no_such_field = 2 } end,
  range = function() return { small = 1 << 40 } end,
  enum = function() return { color = "PURPLE" } end,
  fraction = function() return { count = 1.5 } end,
  not_table = function() return "hello" end,
  ok = function() return { count = 7, items = { { id = 1, name = "a" } }, small = 3, color = "GREEN" } end,
}

function M.WrongType(req, call)
  return wrong[req.mode]()
end

-- NotInScript is deliberately missing.

return M
