-- Handlers of helloworld.Greeter (proto/helloworld.proto).
-- The file name picks the service: greeter.lua serves the service named Greeter.
-- Each function is one method; `req` and the return value are plain tables.

local M = {}

-- Unary: one request in, one reply out.
function M.SayHello(req, call)
  return { message = "Hello " .. req.name }
end

-- Server streaming: one request in, send as many replies as you like.
function M.SayHelloStreamReply(req, call)
  for i = 1, 3 do
    call:send({ message = "Hello " .. req.name .. " #" .. i })
  end
end

-- Client streaming: read every request, then answer once.
function M.SayHelloClientStream(call)
  local names = {}
  for req in call:messages() do
    names[#names + 1] = req.name
  end
  return { message = "Hello " .. table.concat(names, ", ") }
end

-- Bidirectional streaming: answer each request as it arrives.
function M.SayHelloBidiStream(call)
  for req in call:messages() do
    call:send({ message = "Hello " .. req.name })
  end
end

return M
