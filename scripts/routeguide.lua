-- Handlers of routeguide.RouteGuide (proto/routeguide.proto), gRPC's classic RouteGuide.
-- Beyond greeter.lua it shows errors (grpc.error, with details), request and response
-- metadata, deadlines and cancellation (call.deadline, call:cancelled(), grpc.sleep).
-- Every function used here is described in docs/handlers.md.

-- Its messages' classes for the editor (routeguide.Point, ...) are in build/types/messages.lua,
-- which the build writes and .luarc.json loads. Point's latitude and longitude are degrees
-- * 10^7; RouteSummary's distance is in meters, its elapsed_time in seconds.

local M = {}

-- What the guide knows. A module-level value lives in each worker's own Lua state (every
-- worker runs this file once) and starts afresh on every reload: right for constants, not
-- for data that calls must share.
local FEATURES = {
  { name = "Berkshire Valley Management Area Trail, Jefferson, NJ, USA",
    location = { latitude = 409146138, longitude = -746188906 } },
  { name = "Patriots Path, Mendham, NJ 07945, USA",
    location = { latitude = 407838351, longitude = -746143763 } },
  { name = "101 New Jersey 10, Whippany, NJ 07981, USA",
    location = { latitude = 408122808, longitude = -743999179 } },
  { name = "U.S. 6, Shohola, PA 18458, USA",
    location = { latitude = 413628156, longitude = -749015468 } },
  { name = "5 Conners Road, Kingston, NY 12401, USA",
    location = { latitude = 419999544, longitude = -740371136 } },
  { name = "Mid Hudson Psychiatric Center, New Hampton, NY 10958, USA",
    location = { latitude = 414008389, longitude = -743951297 } },
  { name = "287 Flugertown Road, Livingston Manor, NY 12758, USA",
    location = { latitude = 419611318, longitude = -746524769 } },
  { name = "4001 Tremley Point Road, Linden, NJ 07036, USA",
    location = { latitude = 406109563, longitude = -742186778 } },
  { name = "352 South Mountain Road, Wallkill, NY 12589, USA",
    location = { latitude = 416802456, longitude = -742370183 } },
  { name = "Bailey Turn Road, Harriman, NY 10926, USA",
    location = { latitude = 412950425, longitude = -741077389 } },
  { name = "193-199 Wawayanda Road, Hewitt, NJ 07421, USA",
    location = { latitude = 412144655, longitude = -743949739 } },
  { name = "", -- a place known to have nothing of note
    location = { latitude = 416851321, longitude = -742674555 } },
}

local E7 = 10000000

local function where(p)
  return string.format("(%.7f, %.7f)", p.latitude / E7, p.longitude / E7)
end

-- Ends the call with INVALID_ARGUMENT. grpc.error never returns, however deep in the
-- handler it is called. The detail, a google.rpc.BadRequest, names the field at fault for
-- clients that read details with their standard decoders (grpc-status-details-bin).
local function bad_request(field, message)
  grpc.error("INVALID_ARGUMENT", message, {
    grpc.any_pack("google.rpc.BadRequest", {
      field_violations = { { field = field, description = message } },
    }),
  })
end

-- The point, checked: present and on the globe. `path` is where the request holds it.
---@param p routeguide.Point?
---@param what string
---@param path string
---@return routeguide.Point
local function checked(p, what, path)
  if p == nil then bad_request(path, what .. " is missing") end
  ---@cast p routeguide.Point
  local prefix = path == "" and "" or path .. "."
  if p.latitude < -90 * E7 or p.latitude > 90 * E7 then
    bad_request(prefix .. "latitude", what .. " " .. where(p) .. " is not on the globe")
  elseif p.longitude < -180 * E7 or p.longitude > 180 * E7 then
    bad_request(prefix .. "longitude", what .. " " .. where(p) .. " is not on the globe")
  end
  return p
end

---@return routeguide.Feature?
local function feature_at(p)
  for _, f in ipairs(FEATURES) do
    if f.location.latitude == p.latitude and f.location.longitude == p.longitude then return f end
  end
  return nil
end

-- Meters between two points (haversine), as the classic servers compute it.
local function meters(a, b)
  local lat1, lat2 = math.rad(a.latitude / E7), math.rad(b.latitude / E7)
  local dlat, dlon = lat2 - lat1, math.rad((b.longitude - a.longitude) / E7)
  local h = math.sin(dlat / 2) ^ 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ^ 2
  return 6371000 * 2 * math.atan(math.sqrt(h), math.sqrt(1 - h))
end

-- Unary: one request in, the returned table out.
-- A point with no feature gets an unnamed Feature, as from the classic servers; a client
-- that would rather have NOT_FOUND says so with the request header `x-missing: error`.
---@param point routeguide.Point
---@param call grpc.Call
---@return routeguide.Feature
function M.GetFeature(point, call)
  checked(point, "point", "")
  local feature = feature_at(point)
  if feature then return feature end
  -- Request metadata: keys lower-case, values strings.
  if call.metadata["x-missing"] == "error" then
    grpc.error("NOT_FOUND", "no feature at " .. where(point))
  end
  return { name = "", location = point }
end

-- Server streaming: call:send() each reply; returning ends the call with OK.
-- The request header `x-pace-ms: N` pauses N ms between features, to watch a stream
-- arrive; when the client's deadline leaves no time for the next pause, the stream ends
-- early, with OK and a trailer `x-truncated` saying how much was sent.
---@param rect routeguide.Rectangle
---@param call grpc.Call
function M.ListFeatures(rect, call)
  local lo, hi = checked(rect.lo, "lo", "lo"), checked(rect.hi, "hi", "hi")
  local south, north = math.min(lo.latitude, hi.latitude), math.max(lo.latitude, hi.latitude)
  local west, east = math.min(lo.longitude, hi.longitude), math.max(lo.longitude, hi.longitude)

  local pace_ms = tonumber(call.metadata["x-pace-ms"] or "0")
  if pace_ms == nil or pace_ms < 0 or pace_ms > 10000 then
    grpc.error("INVALID_ARGUMENT", "x-pace-ms must be a number of milliseconds from 0 to 10000")
  end
  local pace = pace_ms / 1000

  local found = {}
  for _, f in ipairs(FEATURES) do
    local p = f.location
    if f.name ~= "" and p.latitude >= south and p.latitude <= north
        and p.longitude >= west and p.longitude <= east then
      found[#found + 1] = f
    end
  end

  -- Response headers leave with the first message: set them before the first send.
  call:set_header("x-feature-count", tostring(#found))

  for i, f in ipairs(found) do
    if i > 1 and pace > 0 then
      local left = call.deadline            -- seconds before the client's deadline, or nil
      if left ~= nil and left < pace then
        call:set_trailer("x-truncated", string.format("%d of %d sent", i - 1, #found))
        return
      end
      -- Suspends this call only. Should the client cancel (or the deadline pass) meanwhile,
      -- grpc.sleep raises and the handler ends here.
      grpc.sleep(pace)
    end
    call:send(f)                            -- waits, this call only, if the client is slow
  end
end

-- Client streaming: read the requests until the client half-closes, return one reply.
---@param call grpc.Call
---@return routeguide.RouteSummary
function M.RecordRoute(call)
  local started = grpc.now()
  local count, features, distance = 0, 0, 0
  local previous = nil
  for point in call:messages() do
    count = count + 1
    checked(point, "point " .. count, "")   -- a bad point ends the whole call
    local f = feature_at(point)
    if f and f.name ~= "" then features = features + 1 end
    if previous then distance = distance + meters(previous, point) end
    previous = point
  end
  return {
    point_count = count,
    feature_count = features,
    distance = math.min(math.floor(distance), 0x7fffffff),  -- int32 fields take integers only
    elapsed_time = math.floor(grpc.now() - started),
  }
end

-- Bidirectional streaming: read and send in any order. For each note, send back the
-- notes of this chat sent earlier at the same location, then keep it.
---@param call grpc.Call
function M.RouteChat(call)
  local received = 0
  local ok, err = pcall(function()
    local notes = {}                        -- per call, so not shared with other calls
    for note in call:messages() do
      received = received + 1
      local p = checked(note.location, "note " .. received .. " location", "location")
      local key = p.latitude .. "," .. p.longitude
      local earlier = notes[key] or {}
      for _, n in ipairs(earlier) do call:send(n) end
      earlier[#earlier + 1] = note
      notes[key] = earlier
    end
  end)
  -- Trailers go out with the status, an error status too. Once the client has gone (or the
  -- deadline passed) no one will read them, and call:cancelled() says so.
  if not call:cancelled() then
    call:set_trailer("x-notes-received", tostring(received))
  end
  -- Re-raised as it is, the error keeps its status (INVALID_ARGUMENT, CANCELLED, ...).
  if not ok then error(err, 0) end
end

return M
