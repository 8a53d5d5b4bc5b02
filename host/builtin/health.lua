-- grpc.health.v1.Health, built into the host (Kubernetes probes, grpc-health-probe, load
-- balancers). "" and every service with a handler are SERVING unless a script says otherwise
-- with grpc.set_health(service, status); from SIGTERM on everything is NOT_SERVING.
local host = ...

local M = { service = "grpc.health.v1.Health" }

function M.Check(req)
  local status = host.health(req.service)
  if status == "SERVICE_UNKNOWN" then
    grpc.error("NOT_FOUND", "unknown service " .. req.service)
  end
  return { status = status }
end

-- Sends the status now and at each change; ends once the host drains, so a watcher
-- does not hold up the exit.
local POLL_SECONDS = 0.25

function M.Watch(req, call)
  local last
  while true do
    -- Read before the status: a SIGTERM between the two still gets its NOT_SERVING sent.
    local draining = host.draining()
    local status = host.health(req.service)
    if status ~= last then
      call:send({ status = status })
      last = status
    end
    if draining then return end
    grpc.sleep(POLL_SECONDS)
  end
end

return M
