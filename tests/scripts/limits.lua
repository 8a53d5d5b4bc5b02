-- Handlers of limits.Limits (tests/proto/limits.proto): each one runs into a guard.
local M = {}

function M.Spin()
  pcall(function() while true do end end)
  while true do end
end

function M.Hog()
  local hoard = {}
  while true do
    hoard[#hoard + 1] = string.rep("x", 1 << 20) .. #hoard
  end
end

function M.Run(req)
  local chunk, err = load(req.code, "=probe")
  if not chunk then return { ok = false, value = err } end
  local ok, value = pcall(chunk)
  return { ok = ok, value = tostring(value) }
end

function M.Raise(req)
  return assert(load(req.code, "=probe"))()
end

function M.Echo(req)
  return { size = req.size, data = string.rep("b", req.size) }
end

function M.Ping()
  return {}
end

return M
