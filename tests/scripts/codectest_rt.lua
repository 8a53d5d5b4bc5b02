-- Handlers of codectest.RoundTrip (tests/proto/roundtrip.proto) for tests/test_codec_*.py:
-- echoes of every kind of message, messages built in Lua from a seed with a dump of what
-- they hold, checks of the codec's script functions, and replies of the wrong shape.

local M = { service = "codectest.RoundTrip" }

local function echo_each(call)
  for req in call:messages() do call:send(req) end
end

M.Legacy = echo_each
M.Wkt = echo_each
M.Nodes = echo_each

function M.Recode(call)
  for b in call:messages() do
    local ok, t = pcall(grpc.decode, b.type, b.data)
    local out
    if ok then ok, out = pcall(grpc.encode, b.type, t) else out = t end
    if ok then call:send({ type = b.type, data = out }) else call:send({ type = b.type, error = out }) end
  end
end

function M.Bare(req)
  return { text = "bare " .. req.text }
end

--[[ {==================================================================
  Messages built from a seed. Each generator returns the Lua value and its dump: JSON whose
  leaves are "i:<integer>", "d:<hex of the double's bytes, little-endian>", "s:<hex of the
  bytes>" and "b:0"/"b:1"; messages are objects, repeated fields arrays, maps arrays of
  [key, value]. The dump says what the value means, whatever its Lua form (an enum given by
  name dumps its number, an integer given as 2.0 dumps "i:2").
=================================================================== ]]

-- xorshift64: the same messages for the same seed on any state, untouched by other scripts.
local function rng(seed)
  local s = seed ~ 0x2545F4914F6CDD1D
  if s == 0 then s = 1 end
  local r = {}
  function r.u64()
    s = s ~ (s << 13)
    s = s ~ (s >> 7)
    s = s ~ (s << 17)
    return s
  end
  function r.below(n) return (r.u64() >> 1) % n end
  function r.chance(p) return r.below(1000) < p * 1000 end
  function r.pick(list) return list[r.below(#list) + 1] end
  function r.range(lo, hi) return lo + r.below(hi - lo + 1) end
  return r
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local I32MIN, I32MAX, U32MAX = -2147483648, 2147483647, 4294967295
local RANGE32 = { int32 = true, sint32 = true, sfixed32 = true }
local RANGEU32 = { uint32 = true, fixed32 = true }
local INT64 = { int64 = true, uint64 = true, sint64 = true, fixed64 = true, sfixed64 = true }

-- An integer of type t; sometimes as a float of integral value, which the codec takes too.
local function gen_int(r, t)
  local v
  if RANGE32[t] then
    v = r.chance(0.4) and r.pick({ 0, 1, -1, I32MIN, I32MAX, 127, 128, -129 }) or r.range(I32MIN, I32MAX)
  elseif RANGEU32[t] then
    v = r.chance(0.4) and r.pick({ 0, 1, U32MAX, 2147483648, 127, 128 }) or r.range(0, U32MAX)
  else
    v = r.chance(0.4) and r.pick({ 0, 1, -1, math.mininteger, math.maxinteger, 1 << 32, -(1 << 32), 1 << 53 })
      or r.u64()
  end
  local dump = '"i:' .. math.tointeger(v) .. '"'
  if v > -(1 << 53) and v < (1 << 53) and r.chance(0.15) then v = v + 0.0 end
  return v, dump
end

local function dump_double(d)
  return '"d:' .. hex(string.pack("<d", d)) .. '"'
end

local function gen_double(r)
  local c, v = r.below(10)
  if c == 0 then
    v = r.pick({ 0.0, -0.0, math.huge, -math.huge, 0 / 0, -(0 / 0), 5e-324, 1.7976931348623157e308, 0.1, -2.5 })
  elseif c < 5 then
    v = string.unpack("<d", string.pack("<i8", r.u64()))   -- any bits: NaN payloads too
  else
    v = (r.below(2000000) - 1000000) / 64
  end
  if v ~= 0 and v == math.floor(v) and r.chance(0.1) and math.tointeger(v) then
    return math.tointeger(v), dump_double(v)   -- an integer for a float field is fine
  end
  return v, dump_double(v)
end

local function gen_float(r)
  local c, v = r.below(10)
  if c == 0 then
    v = r.pick({ 0.0, -0.0, math.huge, -math.huge, 0 / 0, 1.401298464324817e-45, 3.4028234663852886e38,
                 0.1, 1e39, -1e39, 3.4028235677973366e38 })
  elseif c < 5 then
    v = string.unpack("<f", string.pack("<I4", r.u64() & 0xffffffff))
  else
    v = (r.below(2000000) - 1000000) / 64
  end
  return v, dump_double(v)
end

local CHARS = { "a", "b", "z", "0", " ", "\0", "\n", "\"", "\\", "é", "ß", "✓", "€", "\u{7FF}", "\u{800}",
                "\u{FFFF}", "\u{10000}", "\u{10FFFF}", "😀", "中" }

local function gen_string(r)
  local t = {}
  for i = 1, r.below(12) do t[i] = r.pick(CHARS) end
  local s = table.concat(t)
  return s, '"s:' .. hex(s) .. '"'
end

local function gen_bytes(r)
  local t = {}
  for i = 1, r.below(16) do t[i] = string.char(r.below(256)) end
  local s = table.concat(t)
  return s, '"s:' .. hex(s) .. '"'
end

local function gen_bool(r)
  local b = r.chance(0.5)
  return b, b and '"b:1"' or '"b:0"'
end

-- An enum as a name, a number, or (open enums) a number it does not have.
local function gen_enum(r, e)
  local i = r.below(#e.names) + 1
  local c = r.below(4)
  if c < 2 then return e.names[i], '"i:' .. e.numbers[i] .. '"' end
  if c == 2 or not e.open then return e.numbers[i], '"i:' .. e.numbers[i] .. '"' end
  local n = r.pick({ -1, 99, I32MAX, I32MIN, 4 })
  return n, '"i:' .. n .. '"'
end

local gen_message

local function gen_value(r, t, sub, depth)
  if t == "msg" then return gen_message(r, sub, depth + 1) end
  if t == "enum" then return gen_enum(r, sub) end
  if t == "double" then return gen_double(r) end
  if t == "float" then return gen_float(r) end
  if t == "string" then return gen_string(r) end
  if t == "bytes" then return gen_bytes(r) end
  if t == "bool" then return gen_bool(r) end
  return gen_int(r, t)
end

local function gen_list(r, f, depth)
  local n = r.below(f.type == "msg" and 4 or 6)
  local vals, dumps = {}, {}
  for i = 1, n do vals[i], dumps[i] = gen_value(r, f.type, f.sub, depth) end
  local list = vals
  if r.chance(0.2) then   -- filled backwards: the encoder cannot rely on the array order
    list = {}
    for i = n, 1, -1 do list[i] = vals[i] end
  end
  return list, "[" .. table.concat(dumps, ",") .. "]"
end

local function gen_map(r, f, depth)
  local map, dumps = {}, {}
  for _ = 1, r.below(4) do
    local k, kd = gen_value(r, f.key, nil, depth)
    if math.type(k) == "float" then k = math.tointeger(k) end
    if map[k] == nil then
      local v, vd = gen_value(r, f.type, f.sub, depth)
      map[k] = v
      dumps[#dumps + 1] = "[" .. kd .. "," .. vd .. "]"
    end
  end
  return map, "[" .. table.concat(dumps, ",") .. "]"
end

function gen_message(r, spec, depth)
  local t, parts, chosen = {}, {}, {}
  for _, members in ipairs(spec.oneofs or {}) do   -- in order: the same seed, the same message
    if r.chance(0.7) then chosen[r.pick(members)] = true end
  end
  for _, f in ipairs(spec.fields) do
    local set
    if f.oneof then set = chosen[f.name]
    elseif f.required then set = true
    else set = r.chance(spec.density or 0.5) end
    if set and f.type == "msg" and depth >= (spec.max_depth or 3) then set = f.required end
    if set then
      local v, d
      if f.key then v, d = gen_map(r, f, depth)
      elseif f.rep then v, d = gen_list(r, f, depth)
      else v, d = gen_value(r, f.type, f.sub, depth) end
      t[f.name] = v
      parts[#parts + 1] = '"' .. f.name .. '":' .. d
    end
  end
  return t, "{" .. table.concat(parts, ",") .. "}"
end

-- The messages' shapes, as in tests/proto.
local function enum(open, names, numbers) return { open = open, names = names, numbers = numbers } end
local COLOR = enum(true, { "COLOR_UNSPECIFIED", "RED", "GREEN", "BLUE" }, { 0, 1, 2, 3 })
local MOOD = enum(true, { "MOOD_UNKNOWN", "HAPPY", "GLAD", "SAD" }, { 0, 1, 1, 2 })
local LEVEL = enum(true, { "LEVEL_UNSPECIFIED", "LEVEL_LOW", "LEVEL_HIGH" }, { 0, 1, 2 })
local SIZE = enum(false, { "SMALL", "MEDIUM", "LARGE" }, { 1, 2, 3 })
local FLAG = enum(false, { "FLAG_NONE", "FLAG_ON" }, { 0, 1 })

local function F(name, type, extra)
  local f = extra or {}
  f.name, f.type = name, type
  return f
end

local NESTED = { fields = { F("id", "int32"), F("name", "string"), F("values", "int32", { rep = true }) } }
local STAMP = { fields = { F("seconds", "int64"), F("nanos", "int32"), F("level", "enum", { sub = LEVEL }) } }
local SCALARS = { "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string", "bytes",
                  "uint32", "sfixed32", "sfixed64", "sint32", "sint64" }

local ALL = { fields = {}, oneofs = { { "c_int", "c_string", "c_nested", "c_color" }, { "x_bool", "x_bytes" } } }
do
  local fs = ALL.fields
  for _, t in ipairs(SCALARS) do fs[#fs + 1] = F("f_" .. t, t) end
  fs[#fs + 1] = F("f_color", "enum", { sub = COLOR })
  fs[#fs + 1] = F("f_mood", "enum", { sub = MOOD })
  fs[#fs + 1] = F("f_nested", "msg", { sub = NESTED })
  fs[#fs + 1] = F("f_stamp", "msg", { sub = STAMP })
  fs[#fs + 1] = F("f_level", "enum", { sub = LEVEL })
  for _, t in ipairs(SCALARS) do fs[#fs + 1] = F("o_" .. t, t) end
  fs[#fs + 1] = F("o_color", "enum", { sub = COLOR })
  for _, t in ipairs(SCALARS) do fs[#fs + 1] = F("r_" .. t, t, { rep = true }) end
  fs[#fs + 1] = F("r_color", "enum", { sub = COLOR, rep = true })
  fs[#fs + 1] = F("r_nested", "msg", { sub = NESTED, rep = true })
  fs[#fs + 1] = F("r_unpacked", "int32", { rep = true })
  for _, k in ipairs({ "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32",
                       "sfixed64", "bool", "string" }) do
    fs[#fs + 1] = F("m_" .. k, "string", { key = k })
  end
  fs[#fs + 1] = F("m_nested", "msg", { key = "string", sub = NESTED })
  fs[#fs + 1] = F("m_color", "enum", { key = "string", sub = COLOR })
  fs[#fs + 1] = F("m_bytes", "bytes", { key = "string" })
  fs[#fs + 1] = F("m_double", "double", { key = "int32" })
  fs[#fs + 1] = F("c_int", "int32", { oneof = "choice" })
  fs[#fs + 1] = F("c_string", "string", { oneof = "choice" })
  fs[#fs + 1] = F("c_nested", "msg", { oneof = "choice", sub = NESTED })
  fs[#fs + 1] = F("c_color", "enum", { oneof = "choice", sub = COLOR })
  fs[#fs + 1] = F("x_bool", "bool", { oneof = "other" })
  fs[#fs + 1] = F("x_bytes", "bytes", { oneof = "other" })
end

local ITEM = { fields = { F("a", "int32"), F("b", "string") } }
local ENTRY = { fields = { F("key", "string", { required = true }) } }
local LEGACY = { max_depth = 3 }
LEGACY.fields = {
  F("id", "int32", { required = true }), F("name", "string"), F("count", "int32"), F("size", "enum", { sub = SIZE }),
  F("plain", "int32", { rep = true }), F("packed", "int32", { rep = true }),
  F("sizes", "enum", { sub = SIZE, rep = true }), F("raw", "bytes"), F("text", "string"),
  F("item", "msg", { sub = ITEM }), F("entry", "msg", { sub = ENTRY, rep = true }),
  F("next", "msg", { sub = LEGACY }), F("ratio", "double"),
  F("counts", "int32", { key = "string" }), F("flags", "enum", { key = "string", sub = FLAG }) }

local NODE = { max_depth = 4, density = 0.4 }
NODE.fields = { F("name", "string"), F("child", "msg", { sub = NODE }), F("children", "msg", { sub = NODE, rep = true }),
                F("named", "msg", { key = "string", sub = NODE }) }

local KINDS = {
  all = { field = "all", type = "codectest.AllTypes", spec = ALL },
  legacy = { field = "legacy", type = "codectest2.Legacy", spec = LEGACY },
  node = { field = "node", type = "codectest.Node", spec = NODE },
}

function M.Generate(req, call)
  local kind = KINDS[req.kind] or grpc.error("INVALID_ARGUMENT", "no kind " .. req.kind)
  local r = rng(req.seed)
  for _ = 1, req.count do
    local t, dump = gen_message(r, kind.spec, 0)
    local encoded = grpc.encode(kind.type, t)
    call:send({ [kind.field] = t, dump = dump, encoded = encoded })
  end
end

-- }==================================================================

--[[ {==================================================================
  Checks of the script functions: each group returns its failures to the client.
=================================================================== ]]

-- Deep equality: NaN equals NaN, -0.0 is not 0.0, integer is not float.
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then return false end
    if a ~= a then return b ~= b end
    if a == 0 and math.type(a) == "float" then return 1 / a == 1 / b end
    return a == b
  end
  if type(a) ~= "table" then return a == b end
  for k, x in pairs(a) do if not same(x, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function show(v)
  if type(v) ~= "table" then return type(v) == "string" and string.format("%q", v) or tostring(v) end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. show(x) end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- The error of f(...) without its position prefix, or nil when f does not fail.
local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return nil end
  return (tostring(e):gsub("^[^:]*%.lua:%d+: ", ""))
end

local checks = {}

function checks.codec(t)
  t.eq(grpc.encode("codectest.Hello", { name = "testing" }), "\10\7testing", "Hello bytes")
  t.eq(grpc.encode(".codectest.Hello", {}), "", "leading dot, empty message")
  t.eq(grpc.decode("codectest.Hello", "\10\7testing"), { name = "testing" }, "Hello decoded")
  t.eq(grpc.decode("codectest.Hello", ""), { name = "" }, "proto3 default")
  t.eq(grpc.decode("helloworld.HelloRequest", grpc.encode("helloworld.HelloRequest", { name = "w" })),
       { name = "w" }, "types of the other protoset")
  t.eq(grpc.decode("Ping", grpc.encode("Ping", { text = "p" })), { text = "p" }, "package-less type")
  local all = { f_int64 = math.mininteger, f_uint64 = -1, f_double = -0.0, f_float = 0.5, f_string = "é\0",
                f_bytes = "\0\255", f_color = "BLUE", f_mood = "GLAD", r_int32 = { 1, -1 },
                m_int64 = { [math.maxinteger] = "x" }, c_nested = { id = 3 }, o_int32 = 0 }
  local back = grpc.decode("codectest.AllTypes", grpc.encode("codectest.AllTypes", all))
  t.eq(back.f_int64, math.mininteger, "int64 min")
  t.eq(back.f_uint64, -1, "uint64 max reads -1")
  t.eq(back.f_double, -0.0, "-0.0")
  t.eq(back.f_mood, "HAPPY", "alias decodes as the first name")
  t.eq(back.c_nested, { id = 3, name = "", values = {} }, "oneof message")
  t.eq(back.c_int, nil, "other oneof members are nil")
  t.eq(back.o_int32, 0, "optional set to 0 stays")
  t.eq(back.o_string, nil, "optional unset is nil")
  t.eq(back.f_nested, nil, "message unset is nil")
  t.eq(back.r_string, {}, "repeated unset is an empty table")
  t.eq(back.m_int64, { [math.maxinteger] = "x" }, "map")
  -- proto2: unset optional fields read nil, even with a [default = ...]; required is enforced.
  local l = grpc.decode("codectest2.Legacy", grpc.encode("codectest2.Legacy", { id = 5, item = { a = 1 } }))
  t.eq(l, { id = 5, item = { a = 1 }, plain = {}, packed = {}, sizes = {}, entry = {}, counts = {}, flags = {} },
       "proto2 decode")
  t.eq(l.name, nil, "proto2 default not applied")
  t.eq(err_of(grpc.decode, "codectest2.Legacy", ""), "grpc.decode: codectest2.Legacy.id: missing required field",
       "required on decode")
  t.eq(err_of(grpc.encode, "codectest2.Legacy", { name = "x" }),
       "grpc.encode: codectest2.Legacy.id: missing required field", "required on encode")
  -- Errors name the function, the type and the path.
  t.eq(err_of(grpc.encode, "helloworld.HelloReply", { message = 5 }),
       "grpc.encode: helloworld.HelloReply.message: expected string, got number", "wrong type")
  t.eq(err_of(grpc.encode, "codectest.AllTypes", { r_nested = { {}, { id = 1.5 } } }),
       "grpc.encode: codectest.AllTypes.r_nested[2].id: expected integer, got number 1.5", "path")
  t.eq(err_of(grpc.encode, "codectest.AllTypes", { m_int32 = { x = "a" } }),
       "grpc.encode: codectest.AllTypes.m_int32[\"x\"]: map key: expected integer, got string", "map key")
  t.eq(err_of(grpc.encode, "codectest.AllTypes", 5), "grpc.encode: codectest.AllTypes: expected table, got number",
       "not a table")
  t.eq(err_of(grpc.encode, "codectest.Nope", {}), "grpc.encode: unknown message type 'codectest.Nope'",
       "unknown type")
  t.eq(err_of(grpc.decode, "codectest.Nope", ""), "grpc.decode: unknown message type 'codectest.Nope'",
       "unknown type on decode")
  t.eq(err_of(grpc.decode, "codectest.AllTypes", "\40\150"),
       "grpc.decode: codectest.AllTypes.f_int32: truncated varint", "decode error")
  t.eq(err_of(grpc.decode, "codectest.AllTypes", "\74\1\255"), "grpc.decode: codectest.AllTypes.f_string: invalid UTF-8",
       "invalid UTF-8")
  t.ok(err_of(grpc.encode, nil, {}) ~= nil, "type name missing")
  t.ok(err_of(grpc.decode, "codectest.Hello", {}) ~= nil, "bytes not a string")
  -- Nesting: 100 levels below the root are fine, 101 are not.
  local function nest(n) local x = {} for _ = 1, n do x = { child = x } end return x end
  t.ok(err_of(grpc.encode, "codectest.Node", nest(100)) == nil, "100 levels")
  local e = err_of(grpc.encode, "codectest.Node", nest(101))
  t.ok(e and e:find("^grpc%.encode: codectest%.Node%.child%.child") and e:find(": nesting deeper than 100$"),
       "101 levels: " .. tostring(e))
  -- After errors, the buffer works: big messages, and many of them.
  local big = { r_nested = {} }
  for i = 1, 20000 do big.r_nested[i] = { id = i, name = "item " .. i, values = { i, -i } } end
  local bytes = grpc.encode("codectest.AllTypes", big)
  t.ok(#bytes > 500000, "a big message: " .. #bytes .. " bytes")
  t.ok(same(grpc.decode("codectest.AllTypes", bytes).r_nested[20000], { id = 20000, name = "item 20000",
                                                                       values = { 20000, -20000 } }), "big decoded")
  for i = 1, 200 do
    err_of(grpc.encode, "codectest.AllTypes", { r_nested = { { id = i }, { id = "x" } } })
    t.eq(grpc.encode("codectest.Hello", { name = "n" .. i }), "\10" .. string.char(#("n" .. i)) .. "n" .. i, nil)
  end
end

function checks.any(t, req, reply)
  local a = grpc.any_pack("codectest.Hello", { name = "x" })
  t.eq(a, { type_url = "type.googleapis.com/codectest.Hello", value = "\10\1x" }, "any_pack")
  local name, msg = grpc.any_unpack(a)
  t.eq(name, "codectest.Hello", "any_unpack type")
  t.eq(msg, { name = "x" }, "any_unpack message")
  name, msg = grpc.any_unpack({ type_url = "example.com/a/b/codectest.Hello" })
  t.eq({ name, msg }, { "codectest.Hello", { name = "" } }, "any without a value, another host")
  t.eq(err_of(grpc.any_unpack, { type_url = "type.googleapis.com/codectest.Nope" }),
       "grpc.any_unpack: unknown type 'type.googleapis.com/codectest.Nope'", "unknown type")
  t.eq(err_of(grpc.any_unpack, { type_url = "type.googleapis.com/" }),
       "grpc.any_unpack: unknown type 'type.googleapis.com/'", "no type")
  t.eq(err_of(grpc.any_unpack, { value = "" }), "grpc.any_unpack: type_url: expected string, got nil", "no url")
  t.eq(err_of(grpc.any_unpack, { type_url = "x/codectest.Hello", value = 5 }),
       "grpc.any_unpack: value: expected string, got number", "value not bytes")
  t.eq(err_of(grpc.any_unpack, { type_url = "x/codectest.Hello", value = "\10\1\255" }),
       "grpc.any_unpack: codectest.Hello.name: invalid UTF-8", "bad value")
  t.eq(err_of(grpc.any_pack, "codectest.Hello", { nope = 1 }),
       "grpc.any_pack: codectest.Hello.nope: unknown field of codectest.Hello", "bad message")
  for _, key in ipairs({ "nam", "names", "Name" }) do   -- a small message's names are compared whole
    t.eq(err_of(grpc.any_pack, "codectest.Hello", { [key] = "x" }),
         "grpc.any_pack: codectest.Hello." .. key .. ": unknown field of codectest.Hello", "near name " .. key)
  end
  t.eq(err_of(grpc.any_pack, "codectest.Nope", {}), "grpc.any_pack: unknown message type 'codectest.Nope'",
       "unknown type to pack")
  -- An Any inside a message, and one the client packed.
  local w = { any = grpc.any_pack("codectest.AllTypes", { f_int32 = 7 }),
              anys = { grpc.any_pack("google.protobuf.Timestamp", grpc.timestamp(1.25)) } }
  local back = grpc.decode("codectest.WellKnown", grpc.encode("codectest.WellKnown", w))
  name, msg = grpc.any_unpack(back.any)
  t.eq(name, "codectest.AllTypes", "nested any type")
  t.eq(msg.f_int32, 7, "nested any value")
  name, msg = grpc.any_unpack(back.anys[1])
  t.eq({ name, msg }, { "google.protobuf.Timestamp", { seconds = 1, nanos = 250000000 } }, "Timestamp in an Any")
  if req.wkt and req.wkt.any then
    name, msg = grpc.any_unpack(req.wkt.any)
    t.eq(name, "codectest.AllTypes", "client's any: type")
    t.eq(msg.f_string, "from python", "client's any: value")
    t.eq(msg.r_int64, { 1, -1 }, "client's any: repeated")
  else
    t.ok(false, "the request carries no wkt.any")
  end
  reply.out = { wkt = { any = grpc.any_pack("codectest.Node", { name = "from lua", children = { { name = "c" } } }) } }
end

function checks.time(t, req, reply)
  t.eq(grpc.timestamp(1.5), { seconds = 1, nanos = 500000000 }, "1.5")
  t.eq(grpc.timestamp(-1.5), { seconds = -2, nanos = 500000000 }, "-1.5: nanos stay positive")
  t.eq(grpc.timestamp(0), { seconds = 0, nanos = 0 }, "0")
  t.eq(grpc.timestamp(1700000000), { seconds = 1700000000, nanos = 0 }, "an integer")
  t.eq(grpc.timestamp(1700000000.25), { seconds = 1700000000, nanos = 250000000 }, "a recent time")
  t.eq(grpc.timestamp(0.9999999999), { seconds = 1, nanos = 0 }, "rounds up to the next second")
  t.eq(grpc.timestamp(253402300799), { seconds = 253402300799, nanos = 0 }, "the last second of 9999")
  t.eq(grpc.timestamp(-62135596800), { seconds = -62135596800, nanos = 0 }, "the first second of year 1")
  t.eq(grpc.duration(-1.5), { seconds = -1, nanos = -500000000 }, "duration: nanos take the sign")
  t.eq(grpc.duration(2.25), { seconds = 2, nanos = 250000000 }, "duration")
  t.eq(grpc.duration(-0.25), { seconds = 0, nanos = -250000000 }, "duration below one second")
  t.eq(grpc.duration(315576000000), { seconds = 315576000000, nanos = 0 }, "longest duration")
  t.eq(grpc.seconds({ seconds = 1, nanos = 500000000 }), 1.5, "seconds")
  t.eq(grpc.seconds({ seconds = -1, nanos = -500000000 }), -1.5, "negative duration")
  t.eq(grpc.seconds({ seconds = -2, nanos = 500000000 }), -1.5, "negative timestamp")
  t.eq(grpc.seconds({}), 0.0, "empty: 0")
  t.eq(grpc.seconds(grpc.timestamp(1234.5)), 1234.5, "both ways")
  local now = grpc.timestamp()
  t.ok(math.abs(grpc.seconds(now) - grpc.now()) < 5 and now.nanos >= 0 and now.nanos < 1e9, "timestamp() is now")
  t.eq(err_of(grpc.timestamp, 0 / 0), "grpc.timestamp: " .. string.format("%.14g", 0 / 0) .. " seconds is out of range",
       "NaN")
  t.eq(err_of(grpc.timestamp, 253402300800), "grpc.timestamp: 253402300800 seconds is out of range", "year 10000")
  t.ok(err_of(grpc.timestamp, 1e300) ~= nil, "1e300")
  t.ok(err_of(grpc.timestamp, math.huge) ~= nil, "inf")
  t.ok(err_of(grpc.duration, -315576000001) ~= nil, "duration too long")
  t.ok(err_of(grpc.timestamp, "x") ~= nil, "not a number")
  t.eq(err_of(grpc.seconds, { seconds = "1" }), "grpc.seconds: seconds: expected integer, got string", "string")
  t.eq(err_of(grpc.seconds, { nanos = 0.5 }), "grpc.seconds: nanos: expected integer, got number", "fraction")
  t.ok(err_of(grpc.seconds, 5) ~= nil, "not a table")
  -- As fields of messages: the client checks these.
  reply.out = { wkt = { ts = grpc.timestamp(1700000000.125), dur = grpc.duration(-90.5),
                        stamps = { grpc.timestamp(0), grpc.timestamp(-1.75) } } }
  if req.wkt and req.wkt.ts then
    t.eq(grpc.seconds(req.wkt.ts), 1234567890.5, "the client's Timestamp")
    t.eq(grpc.seconds(req.wkt.dur), -3.25, "the client's Duration")
  else
    t.ok(false, "the request carries no wkt.ts")
  end
end

-- The other well-known types, built in Lua as plain messages; the client checks reply.out.
function checks.wkt(t, req, reply)
  local w = {
    st = { fields = { n = { number_value = 1.5 }, s = { string_value = "x" }, b = { bool_value = true },
                      z = { null_value = "NULL_VALUE" }, l = { list_value = { values = { { number_value = 1 },
                                                                                       { string_value = "y" } } } },
                      o = { struct_value = { fields = { k = { bool_value = false } } } } } },
    val = { string_value = "v" }, list = { values = { { null_value = 0 } } }, empty = {},
    mask = { paths = { "a.b", "c" } }, w_double = { value = 0.5 }, w_float = { value = -1 },
    w_int64 = { value = math.mininteger }, w_uint64 = { value = -1 }, w_int32 = { value = -5 },
    w_uint32 = { value = 4294967295 }, w_bool = { value = true }, w_string = { value = "é" },
    w_bytes = { value = "\0" }, values = { a = { number_value = 2 } }, null = "NULL_VALUE",
  }
  local back = grpc.decode("codectest.WellKnown", grpc.encode("codectest.WellKnown", w))
  t.eq(back.st.fields.z, { null_value = "NULL_VALUE" }, "null value")
  t.eq(back.st.fields.l.list_value.values[2], { string_value = "y" }, "list in a struct")
  t.eq(back.w_uint64, { value = -1 }, "UInt64Value")
  t.eq(back.w_float, { value = -1.0 }, "FloatValue")
  t.eq(back.empty, {}, "Empty")
  t.eq(back.mask, { paths = { "a.b", "c" } }, "FieldMask")
  t.eq(back.w_bool, { value = true }, "BoolValue")
  t.eq(grpc.decode("codectest.WellKnown", grpc.encode("codectest.WellKnown", { w_int32 = { value = 0 } })).w_int32,
       { value = 0 }, "a wrapper of the default is present")
  reply.out = { wkt = w }
end

-- Runs group req.name with t.eq/t.ok collecting failures.
function M.Check(req)
  local reply = { passed = 0, failures = {} }
  local t = {}
  function t.eq(got, want, what)
    if same(got, want) then reply.passed = reply.passed + 1
    else reply.failures[#reply.failures + 1] = (what or "?") .. ": got " .. show(got) .. ", want " .. show(want) end
  end
  function t.ok(cond, what)
    if cond then reply.passed = reply.passed + 1
    else reply.failures[#reply.failures + 1] = what end
  end
  local group = checks[req.name] or grpc.error("INVALID_ARGUMENT", "no check group " .. req.name)
  local ok, err = pcall(group, t, req, reply)
  if not ok then reply.failures[#reply.failures + 1] = "error: " .. tostring(err) end
  return reply
end

-- }==================================================================

--[[ {==================================================================
  Replies of the wrong shape: the status and the field path are the client's to check.
=================================================================== ]]

local function nest(n) local x = {} for _ = 1, n do x = { child = x } end return x end

local BAD = {
  ok = function() return { all = { f_int32 = 1 }, node = nest(99) } end,
  map_key = function() return { all = { m_int32 = { x = "a" } } } end,
  map_key_bool = function() return { all = { m_bool = { [1] = "a" } } } end,
  map_value = function() return { all = { m_nested = { k = { id = "x" } } } } end,
  not_array = function() return { all = { r_int32 = { a = 1 } } } end,
  holes = function() return { all = { r_string = { [1] = "a", [3] = "c" } } } end,
  not_table = function() return { all = { r_nested = 5 } } end,
  deep = function() return { node = nest(100) } end,
  cycle = function() local n = {} n.children = { n } return { node = n } end,
  float_int = function() return { all = { f_int64 = 1.5 } } end,
  range = function() return { all = { f_int32 = 2147483648 } } end,
  range_unsigned = function() return { all = { r_uint32 = { 1, -1 } } } end,
  enum_name = function() return { all = { r_color = { "RED", "PURPLE" } } } end,
  closed_enum = function() return { legacy = { id = 1, size = 9 } } end,
  wrong_type = function() return { all = { f_nested = { name = 5 } } } end,
  unknown_field = function() return { all = { nope = 1 } } end,
  required = function() return { legacy = { name = "x" } } end,
  required_group = function() return { legacy = { id = 1, entry = { { key = "a" }, {} } } } end,
  utf8 = function() return { all = { r_string = { "ok", "\xff" } } } end,
  oneof = function() return { all = { c_int = 1, c_string = "a" } } end,
  wkt = function() return { wkt = { ts = { seconds = "x" } } } end,
  reply = function() return 5 end,
  grpc_encode = function() return { encoded = grpc.encode("codectest.AllTypes", { f_int32 = "x" }) } end,
}

function M.Bad(req)
  local f = BAD[req.mode] or grpc.error("INVALID_ARGUMENT", "no mode " .. req.mode)
  return f()
end

function M.BadStream(req, call)
  local f = BAD[req.mode] or grpc.error("INVALID_ARGUMENT", "no mode " .. req.mode)
  call:send({ all = { f_string = "first" } })
  call:send(f())
  call:send({ all = { f_string = "never" } })
end

-- }==================================================================

return M
