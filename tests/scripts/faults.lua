-- Handlers of faults.Faults (tests/proto/faults.proto): each fault on purpose, for
-- tests/test_faults.py and tests/soak/soak.py.

local M = {}

-- Counters by tag, per worker (lua_State).
local reports = {}

local function report(tag)
  local r = reports[tag]
  if not r then
    r = { started = 0, ended = 0, stopped = 0, sent = 0, received = 0 }
    reports[tag] = r
  end
  return r
end

-- Runs body(r) counting how it ended: ran to its end, or stopped (an error, or the host
-- closing the coroutine: the to-be-closed guard runs either way).
local function tracked(tag, body)
  local r = report(tag)
  r.started = r.started + 1
  local over = false
  local guard <close> = setmetatable({}, { __close = function()
    if not over then
      over = true
      r.stopped = r.stopped + 1
    end
  end })
  body(r)
  over = true
  r.ended = r.ended + 1
end

local function fail(how)
  if how == "grpc" then grpc.error("ABORTED", "failed on purpose") end
  if how == "lua" then error("boom on purpose") end
end

-- Garbage whose finaliser raises: Lua 5.4 turns that into a warning, never an error.
local function bad_garbage(n)
  for _ = 1, n do
    setmetatable({}, { __gc = function() error("error in __gc") end })
  end
end

local unary = {
  ok = function() return "ok" end,
  error = function() grpc.error("FAILED_PRECONDITION", "asked to fail") end,
  lua_error = function() error("lua error on purpose") end,
  sleep = function(req) grpc.sleep(req.seconds) return "slept" end,
  gc_error = function()
    bad_garbage(10)
    collectgarbage()
    return "collected"
  end,
  -- Left for a later call's allocation (in the codec, say) to collect.
  gc_later = function()
    bad_garbage(200)
    return "left"
  end,
  gc_yield = function()
    setmetatable({}, { __gc = function() grpc.sleep(0) end })
    collectgarbage()
    return "collected"
  end,
  gc_resurrect = function()
    setmetatable({}, { __gc = function(o) _G.faults_resurrected = o end })
    collectgarbage()
    _G.faults_resurrected = nil
    return "collected"
  end,
  co_error = function()
    local co = coroutine.create(function() error("error in a coroutine") end)
    local ok, err = coroutine.resume(co)
    return tostring(ok) .. ": " .. tostring(err)
  end,
  co_wrap_error = function()
    coroutine.wrap(function() error("error in a wrapped coroutine") end)()
  end,
  co_close = function()
    local co = coroutine.create(function()
      local x <close> = setmetatable({}, { __close = function() error("error in __close") end })
      coroutine.yield()
    end)
    coroutine.resume(co)
    return tostring(coroutine.close(co))
  end,
  -- A yielding host function called from a coroutine the handler made.
  co_sleep = function()
    local co = coroutine.wrap(function() grpc.sleep(0.01) return "inner done" end)
    return tostring(co())
  end,
  co_sleep_abandoned = function()
    local co = coroutine.create(function() grpc.sleep(0.01) end)
    local ok, err = coroutine.resume(co)
    return tostring(ok) .. ": " .. tostring(err)
  end,
  pcall_sleep = function()
    local ok = pcall(grpc.sleep, 0.01)
    return tostring(ok)
  end,
  error_table = function() error({ code = 5 }) end,
  error_nil = function() error(nil) end,
  error_tostring_raises = function()
    error(setmetatable({}, { __tostring = function() error("error in __tostring") end }))
  end,
  error_huge = function() error(string.rep("x", 1 << 20)) end,
  error_in_close = function()
    local x <close> = setmetatable({}, { __close = function() error("error in __close") end })
    return "returned"
  end,
  bad_reply = function() return coroutine.create(print) end,
}

function M.Unary(req, call)
  local f = unary[req.mode]
  if not f then grpc.error("INVALID_ARGUMENT", "no mode " .. req.mode) end
  local value = f(req, call)
  return { value = value }
end

-- n pseudo-random bytes: replies of 1 KiB and more are gzipped for clients that accept it,
-- and a stream meant to fill the client's window must not shrink to nothing.
local function noise(n)
  local t, x = {}, n
  for i = 1, n // 8 do
    x = x * 6364136223846793005 + 1442695040888963407
    t[i] = string.pack("<i8", x)
  end
  return table.concat(t) .. string.rep("n", n % 8)
end

function M.Stream(req, call)
  local payload = req.compressible and string.rep("p", req.size) or noise(req.size)
  tracked(req.tag, function(r)
    local i = 0
    while req.count == 0 or i < req.count do
      i = i + 1
      call:send({ seq = i, payload = payload, tag = req.tag })
      r.sent = r.sent + 1
      if req.sleep > 0 then grpc.sleep(req.sleep) end
    end
  end)
  fail(req.fail)
end

function M.Collect(call)
  local r = report("collect")
  local n = 0
  tracked("collect", function()
    for item in call:messages() do
      n = n + 1
      r.received = r.received + 1
      if item.tag == "fail" then grpc.error("FAILED_PRECONDITION", "item " .. n .. " fails") end
      if item.tag == "lua" then error("item " .. n .. " raised") end
    end
  end)
  return { received = n }
end

function M.Chat(call)
  local r = report("chat")
  tracked("chat", function()
    for item in call:messages() do
      r.received = r.received + 1
      if item.tag == "fail" then grpc.error("FAILED_PRECONDITION", "asked to fail") end
      if item.tag == "lua" then error("asked to raise") end
      if item.tag == "co_recv" then
        item.tag = tostring(coroutine.wrap(function() return call:recv() end)())
      end
      if item.tag == "co_send" then
        coroutine.wrap(function() call:send(item) end)()
      end
      call:send(item)
      r.sent = r.sent + 1
    end
  end)
end

function M.Counters(req, call)
  return report(req.tag)
end

return M
