-- Handlers of codectest.Echo (tests/proto/types.proto) for tests/test_codec_*.py: every
-- message goes back as the codec decoded it, so the client sees decode + encode.

local M = { service = "codectest.Echo" }

function M.Echo(req)
  return req
end

function M.ServerStream(req, call)
  call:send(req)
end

-- The last message received (the empty one when none was).
function M.ClientStream(call)
  local last
  for req in call:messages() do last = req end
  return last
end

function M.Stream(call)
  for req in call:messages() do call:send(req) end
end

function M.Tree(req)
  return req
end

return M
