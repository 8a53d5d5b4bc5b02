-- Handlers of helloworld.Greeter for the benchmarks (bench/stream.sh, bench/footprint.sh; run
-- the host with --scripts bench/scripts). A copy of scripts/greeter.lua with two changes, made
-- the same way in the grpc-go peer (bench/peers/go/main.go):
--   SayHelloStreamReply sends x-count replies (request metadata; 3 when absent), not always 3;
--   SayHelloClientStream counts the requests and replies with the count, rather than joining
--   every name into one reply (a million names would not fit in a 4 MiB message); asked with
--   metadata x-lua-kb, it replies instead with the KiB its Lua state holds after a full
--   collection (bench/footprint.sh: the Lua share of the memory per open stream).

local M = {}

-- Unary: one request in, one reply out.
function M.SayHello(req, call)
  return { message = "Hello " .. req.name }
end

-- Server streaming: one request in, x-count replies out.
function M.SayHelloStreamReply(req, call)
  local n = tonumber(call.metadata["x-count"] or 3)
  for i = 1, n do
    call:send({ message = "Hello " .. req.name .. " #" .. i })
  end
end

-- Client streaming: count every request, then answer once with the count.
function M.SayHelloClientStream(call)
  if call.metadata["x-lua-kb"] then
    collectgarbage()
    collectgarbage()
    return { message = string.format("%.1f", collectgarbage("count")) }
  end
  local n = 0
  for _ in call:messages() do
    n = n + 1
  end
  return { message = tostring(n) }
end

-- Bidirectional streaming: answer each request as it arrives.
function M.SayHelloBidiStream(call)
  for req in call:messages() do
    call:send({ message = "Hello " .. req.name })
  end
end

return M
