-- bench/shared.sh's handler: SayHello{name = "OP:N:KEY"} runs N operations OP of the shared
-- store on KEY and answers "STATE START END": which worker's Lua state ran it, and when.
local M = {}

local state = shared.incr("bench:states", 1, 0)
local string100 = string.rep("v", 100)

local ops = {}

function ops.call(key, n)              -- the loop and a call of a C function, no store
  local f = rawequal
  for _ = 1, n do f(key, key) end
end

function ops.get(key, n)
  shared.set(key, "sixteen bytes..!")
  local get = shared.get
  for _ = 1, n do get(key) end
end

function ops.set(key, n)
  local set = shared.set
  for i = 1, n do set(key, i) end
end

function ops.set_string(key, n)
  local set = shared.set
  for _ = 1, n do set(key, string100) end
end

function ops.incr(key, n)
  local incr = shared.incr
  for _ = 1, n do incr(key, 1, 0) end
end

function M.SayHello(req)
  local op, n, key = req.name:match("^([%w_]+):(%d+):(.+)$")
  local run = assert(ops[op], "no such operation")
  local t0 = grpc.now()
  run(key, tonumber(n))
  return { message = string.format("%d %.6f %.6f", state, t0, grpc.now()) }
end

return M
