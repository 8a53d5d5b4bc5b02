-- json.encode / json.decode of the host's json library (json.so, bench/json_module.c) beside
-- lua-cjson, in this one interpreter, on the same documents: a 1 KiB and a 100 KiB one, built
-- here from a fixed seed (objects, arrays, strings with escapes and non-ASCII text, integers,
-- floats, booleans, nulls). Usage: lua5.4 bench/json.lua DIR_OF_JSON_SO [SECONDS_PER_CELL]
-- Prints one table: microseconds per call and MB/s of JSON text, for each library and document.

local dir, seconds = arg[1], tonumber(arg[2] or "1")
package.cpath = dir .. "/?.so;" .. package.cpath
local host = require("json")
local ok, cjson = pcall(require, "cjson")
if not ok then
  io.stderr:write("lua-cjson does not load in " .. _VERSION .. ": " .. tostring(cjson) .. "\n")
  cjson = nil
end

local seed = 42
local function rand(n)   -- a linear congruential generator: the same documents everywhere
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local WORDS = { "alpha", "beta", "gamma", "delta", "épsilon", "中文", "tab\there", "quote\"d", "line\nbreak",
                "a/b", "emoji 😀", "plain text that goes on for a while" }

local function item(i)
  return {
    id = i, sku = "SKU-" .. (100000 + rand(900000)), name = WORDS[rand(#WORDS) + 1],
    price = rand(100000) / 100, qty = rand(1000), active = rand(2) == 0, note = host.null,
    tags = { WORDS[rand(#WORDS) + 1], WORDS[rand(#WORDS) + 1] },
    dims = { w = rand(500) / 10, h = rand(500) / 10, d = rand(500) / 10 },
  }
end

-- A document of about `size` bytes of JSON.
local function document(size)
  local doc = { version = 3, generated = "2024-01-01T00:00:00Z", items = {} }
  local i = 0
  repeat
    i = i + 1
    doc.items[i] = item(i)
  until #host.encode(doc) >= size
  return doc
end

-- Calls per second of f(x) for about `seconds`.
local function rate(f, x)
  local n, start = 0, os.clock()
  local batch = 1
  while true do
    for _ = 1, batch do f(x) end
    n = n + batch
    local t = os.clock() - start
    if t >= seconds then return n / t end
    if t < seconds / 10 then batch = batch * 2 end
  end
end

local libs = { { "host json", host } }
if cjson then
  libs[#libs + 1] = { "lua-cjson " .. (cjson._VERSION or ""), cjson }
end

print(string.format("JSON in %s, %.1f s a cell (os.clock: CPU time of this process)", _VERSION, seconds))
print(string.format("%-18s %-10s %14s %14s %12s %12s", "library", "document", "encode us", "decode us",
                    "encode MB/s", "decode MB/s"))
for _, size in ipairs({ 1024, 102400 }) do
  local doc = document(size)
  for _, lib in ipairs(libs) do
    local name, j = lib[1], lib[2]
    local text = j.encode(doc)
    assert(j.decode(text), name .. " reads its own text")
    local enc = rate(j.encode, doc)
    local dec = rate(j.decode, text)
    print(string.format("%-18s %-10s %14.2f %14.2f %12.1f %12.1f", name,
                        string.format("%d B", #text), 1e6 / enc, 1e6 / dec, enc * #text / 1e6, dec * #text / 1e6))
  end
end
