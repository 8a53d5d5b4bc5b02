-- Handlers of the package-less service Bare (tests/proto/nopkg.proto).

local M = { service = "Bare" }

function M.Ping(req)
  return { text = "pong " .. req.text }
end

return M
