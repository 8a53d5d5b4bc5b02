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
    local function show(v)   -- printable ASCII only: failures travel in a proto3 string
      return (tostring(v):gsub("[^ -~]", function(c) return ("\\%d"):format(c:byte()) end))
    end
    function t.eq(got, want, what)
      if got == want then reply.passed = reply.passed + 1
      else reply.failures[#reply.failures + 1] = show(what) .. ": got " .. show(got) .. ", want " .. show(want) end
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

local function from(type, text) return grpc.encode(type, grpc.from_json(type, text)) end
local A = "codectest.AllTypes"
local W = "codectest.WellKnown"

-- What the mapping reads besides what python prints.
function checks.proto_forms(t)
  local function eq(type, text, want, what) t.eq(from(type, text), grpc.encode(type, want), what) end
  eq(A, '{"f_int32": 5, "fInt64": "-7"}', { f_int32 = 5, f_int64 = -7 }, "both names")
  eq(A, '{"fInt32": "12", "fUint32": 1e3, "fInt64": "1e3", "fSint64": 5.0}',
     { f_int32 = 12, f_uint32 = 1000, f_int64 = 1000, f_sint64 = 5 }, "integers as strings, exponents")
  eq(A, '{"fUint64": 18446744073709551615, "fFixed64": "18446744073709551615"}', { f_uint64 = -1, f_fixed64 = -1 },
     "uint64 max as a number, exact")
  eq(A, '{"fInt64": -9223372036854775808}', { f_int64 = math.mininteger }, "int64 min as a number")
  eq(A, '{"fFloat": "-Infinity", "rDouble": ["Infinity", "1.5", 2]}',
     { f_float = -math.huge, r_double = { math.huge, 1.5, 2 } }, "infinities, numbers in strings")
  local nan = grpc.from_json(A, '{"fDouble": "NaN"}').f_double
  t.eq(nan ~= nan, true, "NaN")
  eq(A, '{"fBytes": "-_8=", "oBytes": "+/8", "rBytes": ["", "AA", "AAA=", "YWJj"]}',
     { f_bytes = "\251\255", o_bytes = "\251\255", r_bytes = { "", "\0", "\0\0", "abc" } },
     "base64 of both alphabets, with or without padding")
  eq(A, '{"fColor": 2, "fMood": "GLAD", "oColor": 77, "rColor": ["RED", 0]}',
     { f_color = "GREEN", f_mood = "HAPPY", o_color = 77, r_color = { "RED", "COLOR_UNSPECIFIED" } }, "enums")
  eq(A, '{"fString": null, "fNested": null, "rInt32": null, "mInt32": null, "cInt": null}', {}, "null is unset")
  eq(A, '{"mInt32": {"-5": "a"}, "mBool": {"true": "t"}, "mUint64": {"18446744073709551615": "x"}}',
     { m_int32 = { [-5] = "a" }, m_bool = { [true] = "t" }, m_uint64 = { [-1] = "x" } }, "map keys")
  eq(W, '{"ts": "1972-01-01T10:00:20.021+05:30", "dur": "-1.5s", "mask": "a.fooBar,b"}',
     { ts = { seconds = 63088220, nanos = 21000000 }, dur = { seconds = -1, nanos = -500000000 },
       mask = { paths = { "a.foo_bar", "b" } } }, "time and masks")
  eq(W, '{"wInt64": "5", "wBool": false, "wBytes": "AA==", "val": null, "list": [1, null], "null": null}',
     { w_int64 = { value = 5 }, w_bool = { value = false }, w_bytes = { value = "\0" },
       val = { null_value = "NULL_VALUE" }, list = { values = { { number_value = 1 }, { null_value = 0 } } } },
     "wrappers, null values")
  eq(W, '{"any": {"value": "1s", "@type": "type.googleapis.com/google.protobuf.Duration"}, "anys": [{}]}',
     { any = grpc.any_pack("google.protobuf.Duration", { seconds = 1 }), anys = { {} } }, "Any: @type last")
  t.eq(grpc.to_json(W, { ts = { seconds = 0, nanos = 1000 }, dur = { seconds = -1, nanos = -1 },
                         w_int32 = {}, st = { fields = {} }, list = {}, val = {}, null = "NULL_VALUE" }),
       '{"ts":"1970-01-01T00:00:00.000001Z","dur":"-1.000000001s","st":{},"val":null,"list":[],"wInt32":0}',
       "time, empty containers, a wrapper at zero")
  t.eq(grpc.to_json(A, { f_float = 0.1, f_double = 0.1, o_int32 = 0, r_float = { 1e39 }, f_uint64 = -1,
                         m_bool = { [true] = 1 > 0 and "x" or "" }, f_bytes = "\255\254" }),
       '{"fDouble":0.1,"fFloat":0.1,"fUint64":"18446744073709551615","fBytes":"//4=","oInt32":0,' ..
       '"rFloat":["Infinity"],"mBool":{"true":"x"}}', "numbers, presence, bytes")
end

-- Wrong input: each a clear error naming the path.
function checks.proto_errors(t)
  local function bad(want, type, text) t.err("grpc.from_json: " .. want, grpc.from_json, type, text) end
  local function bad_out(want, type, v) t.err("grpc.to_json: " .. want, grpc.to_json, type, v) end
  bad("codectest.AllTypes.fNope: unknown field of codectest.AllTypes", A, '{"fNope": 1}')
  bad("codectest.AllTypes.f_int32: given twice", A, '{"fInt32": 1, "f_int32": 2}')
  bad("codectest.AllTypes.f_int32: expected integer, got 1.5", A, '{"fInt32": 1.5}')
  bad("codectest.AllTypes.f_int32: 2147483648 is out of range for int32", A, '{"fInt32": 2147483648}')
  bad("codectest.AllTypes.f_uint64: -1 is out of range for uint64", A, '{"fUint64": "-1"}')
  bad("codectest.AllTypes.f_int64: expected integer, got \" 1\"", A, '{"fInt64": " 1"}')
  bad("codectest.AllTypes.f_int32: expected integer, got boolean", A, '{"fInt32": true}')
  bad("codectest.AllTypes.f_float: 1e39 is out of range for float", A, '{"fFloat": 1e39}')
  bad("codectest.AllTypes.f_double: expected number, got \"nan\"", A, '{"fDouble": "nan"}')
  bad("codectest.AllTypes.f_bool: expected boolean, got string", A, '{"fBool": "true"}')
  bad("codectest.AllTypes.f_bytes: invalid base64", A, '{"fBytes": "a"}')
  bad("codectest.AllTypes.f_color: unknown value \"PURPLE\" of enum codectest.Color", A, '{"fColor": "PURPLE"}')
  bad("codectest.AllTypes.r_int32[2]: expected integer, got \"x\"", A, '{"rInt32": [1, "x"]}')
  bad("codectest.AllTypes.r_int32[2]: null is not a value here", A, '{"rInt32": [1, null]}')
  bad("codectest.AllTypes.r_int32: expected array, got object", A, '{"rInt32": {}}')
  bad("codectest.AllTypes.m_int32[\"x\"]: map key: expected integer", A, '{"mInt32": {"x": "a"}}')
  bad("codectest.AllTypes.m_bool[\"1\"]: map key: expected true or false", A, '{"mBool": {"1": "a"}}')
  bad("codectest.AllTypes.c_string: only one of oneof 'choice' may be set (c_int, c_string)", A,
      '{"cInt": 1, "cString": "a"}')
  bad("codectest.AllTypes.f_string: lone high surrogate \\ud800 in a string at character 15 (line 1, column 15)",
      A, '{"fString": "a\\ud800"}')
  bad("codectest.AllTypes: expected ',' or '}', got ']' at character 13 (line 1, column 13)", A, '{"fInt32": 1]')
  bad("codectest.AllTypes: expected object, got array", A, "[]")
  bad("codectest.AllTypes: expected the end of the text, got '{' at character 4 (line 1, column 4)", A, "{} {}")
  bad("codectest.WellKnown.ts: expected a Timestamp in RFC 3339 form (\"1972-01-01T10:00:20.021Z\"), got \"1972-02-30T00:00:00Z\"",
      W, '{"ts": "1972-02-30T00:00:00Z"}')
  bad("codectest.WellKnown.ts: Timestamp out of range (years 1 to 9999)", W, '{"ts": "0000-12-31T00:00:00Z"}')
  bad("codectest.WellKnown.dur: expected a Duration such as \"1.5s\", got \"1.5\"", W, '{"dur": "1.5"}')
  bad("codectest.WellKnown.dur: Duration out of range (10,000 years at most)", W, '{"dur": "315576000001s"}')
  bad("codectest.WellKnown.dur: expected a Duration such as \"1.5s\", got \"1.0000000001s\"", W, '{"dur": "1.0000000001s"}')
  bad("codectest.WellKnown.stamps[1]: expected a Timestamp in RFC 3339 form (\"1972-01-01T10:00:20.021Z\"), got \"1972-01-01T00:00:00.6666666666Z\"",
      W, '{"stamps": ["1972-01-01T00:00:00.6666666666Z"]}')
  bad("codectest.WellKnown.mask: FieldMask path \"foo_bar\" has a '_' (paths are lowerCamelCase)", W,
      '{"mask": "foo_bar"}')
  bad("codectest.WellKnown.any: an Any needs \"@type\"", W, '{"any": {"a": 1}}')
  bad("codectest.WellKnown.any.@type: no message type \"x/y.Z\" in the protosets", W, '{"any": {"@type": "x/y.Z"}}')
  bad("codectest.WellKnown.any.nope: unknown field of codectest.Hello", W,
      '{"any": {"@type": "type.googleapis.com/codectest.Hello", "nope": 1}}')
  bad("codectest.WellKnown.any: an Any of google.protobuf.Duration needs \"value\"", W,
      '{"any": {"@type": "type.googleapis.com/google.protobuf.Duration"}}')
  bad("codectest2.Legacy.id: missing required field", "codectest2.Legacy", "{}")
  local deep = string.rep('{"child":', 101) .. "{}" .. string.rep("}", 101)
  local ok, e = pcall(grpc.from_json, "codectest.Node", deep)
  t.eq(not ok and e:match(": nesting deeper than 100$") ~= nil, true, "deep: " .. tostring(e))
  bad_out("codectest.AllTypes.f_int32: expected integer, got string", A, { f_int32 = "1" })
  bad_out("codectest.AllTypes.nope: unknown field of codectest.AllTypes", A, { nope = 1 })
  bad_out("codectest.AllTypes.r_nested[2].id: expected integer, got number 1.5", A, { r_nested = { {}, { id = 1.5 } } })
  bad_out("codectest.AllTypes.m_int32[\"x\"]: map key: expected integer, got string", A, { m_int32 = { x = "a" } })
  bad_out("codectest.AllTypes.f_string: invalid UTF-8 (byte 1)", A, { f_string = "\255" })
  bad_out("codectest.AllTypes.f_color: unknown value \"PURPLE\" of enum codectest.Color", A, { f_color = "PURPLE" })
  bad_out("codectest.AllTypes: only one of oneof 'choice' may be set (c_int, c_string)", A,
          { c_int = 1, c_string = "a" })
  bad_out("codectest.AllTypes.r_int32: expected array, element 2 is missing", A, { r_int32 = { [1] = 1, [3] = 3 } })
  bad_out("codectest.WellKnown.ts: Timestamp out of range (seconds 0, nanos -1)", W, { ts = { nanos = -1 } })
  bad_out("codectest.WellKnown.dur: Duration out of range (seconds 1, nanos -1)", W, { dur = { seconds = 1, nanos = -1 } })
  bad_out("codectest.WellKnown.val.number_value: NaN has no JSON form in a Value (it would read back as a string)", W,
          { val = { number_value = 0 / 0 } })
  bad_out("codectest.WellKnown.mask.paths[1]: path \"fooBar\" has no JSON form (lower case and '_' before a letter only)",
          W, { mask = { paths = { "fooBar" } } })
  bad_out("codectest.WellKnown.any.type_url: no message type \"x/y.Z\" in the protosets", W,
          { any = { type_url = "x/y.Z", value = "" } })
  bad_out("codectest.WellKnown.any.value: codectest.Hello.name: invalid UTF-8", W,
          { any = { type_url = "type.googleapis.com/codectest.Hello", value = "\10\1\255" } })
  bad_out("codectest.AllTypes: expected table, got string", A, "x")
  local cycle = {}
  cycle.child = cycle
  ok, e = pcall(grpc.to_json, "codectest.Node", cycle)
  t.eq(not ok and e:match(": nesting deeper than 100$") ~= nil, true, "cycle: " .. tostring(e))
end

-- With --max-message-bytes 65536: texts past it, both ways.
function checks.limits(t)
  local big = string.rep("x", 70000)
  t.err("json.encode: the text would be larger than 65536 bytes (the host's --max-message-bytes)", json.encode, big)
  t.err("json.encode: [2]: the text would be larger than 65536 bytes (the host's --max-message-bytes)",
        json.encode, { "a", big })
  t.err("json.decode: a text of 70002 bytes is larger than the limit of 65536 (the host's --max-message-bytes)",
        json.decode, '"' .. big .. '"')
  t.err("grpc.to_json: codectest.Hello.name: the JSON text would be larger than 65536 bytes (the host's --max-message-bytes)",
        grpc.to_json, "codectest.Hello", { name = big })
  t.err("grpc.from_json: a text of 70012 bytes is larger than the limit of 65536 (the host's --max-message-bytes)",
        grpc.from_json, "codectest.Hello", '{"name": "' .. big .. '"}')
  local fits = string.rep("y", 60000)
  t.eq(#json.encode(fits), 60002, "what fits")
  t.eq(json.decode(json.encode({ fits }))[1], fits, "and back")
  t.eq(grpc.from_json("codectest.Hello", grpc.to_json("codectest.Hello", { name = fits })).name, fits, "proto too")
end

-- }==================================================================

return M
