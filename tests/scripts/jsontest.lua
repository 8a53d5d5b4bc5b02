-- Handlers of jsontest.Json (tests/proto/jsontest.proto) for tests/test_json.py: each job runs
-- json.* or grpc.to_json / grpc.from_json on what the client sent, or a group of checks below.

local M = { service = "jsontest.Json" }

local checks = {}

local ops = {
  to_json = function(job) return { text = grpc.to_json(job.type, grpc.decode(job.type, job.data)) } end,
  from_json = function(job) return { data = grpc.encode(job.type, grpc.from_json(job.type, job.text)) } end,
  recode = function(job) return { text = json.encode(json.decode(job.text)) } end,
  check = function(job)
    local reply = { passed = 0, failures = {} }
    local t = {}
    function t.eq(got, want, what)
      if got == want then reply.passed = reply.passed + 1
      else reply.failures[#reply.failures + 1] = what .. ": got " .. tostring(got) .. ", want " .. tostring(want) end
    end
    function t.err(want, f, ...)
      local ok, e = pcall(f, ...)
      t.eq(not ok and e or "(no error)", want, want)
    end
    local group = checks[job.type] or error("no check group " .. job.type)
    group(t)
    return reply
  end,
}

function M.Run(call)
  for job in call:messages() do
    local op = ops[job.op] or error("no op " .. job.op)
    local ok, reply = pcall(op, job)
    -- Errors without the position of this script: "jsontest.lua:11: json.decode: ..."
    call:send(ok and reply or { error = (tostring(reply):gsub("^[^:]*:%d+: ", "")) })
  end
end

-- {==================================================================
-- Checks of what a Lua value becomes and comes back as.

function checks.values(t)
  t.eq(json.encode({ 1, 2, 3 }), "[1,2,3]", "array")
  t.eq(json.encode({}), "{}", "empty table")
  t.eq(json.encode(json.empty_array), "[]", "empty_array")
  t.eq(json.encode(setmetatable({}, json.array_mt)), "[]", "array_mt")
  t.eq(json.encode(json.decode("[]")), "[]", "[] comes back")
  t.eq(json.encode(json.decode("{}")), "{}", "{} comes back")
  t.eq(json.encode({ [1] = "a", [3] = "c" }), '{"1":"a","3":"c"}', "sparse: an object")
  t.eq(json.encode({ [3] = 3, [2] = 2, [1] = 1 }), "[1,2,3]", "filled backwards: an array")
  t.eq(json.encode(math.maxinteger), "9223372036854775807", "maxinteger")
  t.eq(json.encode(math.mininteger), "-9223372036854775808", "mininteger")
  t.eq(json.encode(1.0), "1.0", "a float stays a float")
  t.eq(json.encode(-0.0), "-0.0", "-0.0")
  t.eq(json.encode(0.1), "0.1", "shortest")
  t.eq(json.encode(1 / 3), "0.3333333333333333", "17 digits when needed")
  t.eq(json.encode(1e300), "1e+300", "exponent")
  t.eq(json.encode(json.null), "null", "json.null")
  t.eq(json.encode(nil), "null", "nil")
  t.eq(json.encode("\0\t\"\\/é"), '"\\u0000\\t\\"\\\\/é"', "escapes")
  t.eq(math.type(json.decode("9007199254740993")), "integer", "integer")
  t.eq(json.decode("9007199254740993"), 9007199254740993, "exact")
  t.eq(json.decode("-9223372036854775808"), math.mininteger, "int64 min")
  t.eq(math.type(json.decode("9223372036854775808")), "float", "beyond int64: a float")
  t.eq(math.type(json.decode("1.0")), "float", "1.0")
  t.eq(math.type(json.decode("1e2")), "float", "1e2")
  t.eq(1 / json.decode("-0"), -math.huge, "-0 is -0.0")
  t.eq(json.decode("null"), json.null, "null")
  t.eq(json.decode('{"a":null}').a, json.null, "null member")
  t.eq(json.decode('"\\ud83d\\ude00"'), "😀", "surrogate pair")
  t.eq(getmetatable(json.decode("[1]")), json.array_mt, "arrays get array_mt")
  t.eq(require("json"), json, "require")
end

function checks.errors(t)
  t.err("json.encode: items[3].name: invalid UTF-8 (byte 2)", json.encode, { items = { 1, 2, { name = "a\xff" } } })
  t.err("json.encode: f: cannot encode a function", json.encode, { f = print })
  t.err("json.encode: [2]: NaN is not a JSON number", json.encode, { 1, 0 / 0 })
  t.err("json.encode: inf is not a JSON number", json.encode, math.huge)
  t.err("json.encode: a table with both string and integer keys is neither an array nor an object",
        json.encode, { 1, x = 2 })
  t.err("json.encode: t: cannot use a boolean as a key (only strings and integers)", json.encode, { t = { [true] = 1 } })
  t.err("json.encode: [\"a b\"]: cannot encode a thread", json.encode, { ["a b"] = coroutine.create(print) })
  local cycle = {}
  cycle.next = cycle
  local ok, e = pcall(json.encode, cycle)
  t.eq(not ok and e:match(": nesting deeper than 100 %(does a table hold itself%?%)$") ~= nil, true, "cycle: " .. tostring(e))
  t.err("json.decode: expected ':' after a member's name, got '1' at character 6 (line 1, column 6)", json.decode, '{"a" 1}')
  t.err("json.decode: expected ',' or '}', got 'x' at character 12 (line 2, column 4)", json.decode, '{"a": 1\n   x}')
  t.err("json.decode: lone high surrogate \\ud800 in a string at character 2 (line 1, column 2)", json.decode, '"\\ud800"')
  t.err("json.decode: number too large for a double at character 2 (line 1, column 2)", json.decode, "[1e400]")
  t.err("json.decode: expected a value, got the end of the text at character 1 (line 1, column 1)", json.decode, "")
  t.err("json.decode: expected the end of the text, got '2' at character 3 (line 1, column 3)", json.decode, "1 2")
  t.err("json.decode: invalid UTF-8 in a string at character 3 (line 1, column 3)", json.decode, '"é\xff"')
end

function checks.proto(t)
  t.eq(grpc.to_json("helloworld.HelloRequest", { name = "x" }), '{"name":"x"}', "hello")
  t.eq(grpc.to_json("helloworld.HelloRequest", {}), "{}", "defaults left out")
  t.eq(grpc.from_json("helloworld.HelloRequest", "{}").name, "", "defaults filled in")
  t.err("grpc.from_json: helloworld.HelloRequest.name: expected string, got number", grpc.from_json,
        "helloworld.HelloRequest", '{"name": 5}')
  t.err("grpc.to_json: helloworld.HelloRequest.name: expected string, got number", grpc.to_json,
        "helloworld.HelloRequest", { name = 5 })
  t.err("grpc.from_json: helloworld.HelloRequest.nope: unknown field of helloworld.HelloRequest", grpc.from_json,
        "helloworld.HelloRequest", '{"nope": 5}')
  t.err("grpc.to_json: unknown message type 'x.Y'", grpc.to_json, "x.Y", {})
end

-- }==================================================================

return M
