---@meta grpc
-- LuaLS definitions of what the host gives handler scripts: the global `grpc` table (also
-- `require "grpc"`), the global `http` table (also `require "http"`), the global `json` table
-- (also `require "json"`), the `call` object (grpc.Call), the `shared` store, `log` and
-- `print`. Never loaded by the host; only the
-- language server reads it (.luarc.json at the repository root points it here).
-- Reference: docs/handlers.md.

---A status code by name, as `grpc.error` takes it.
---@alias grpc.StatusName
---| "CANCELLED"
---| "UNKNOWN"
---| "INVALID_ARGUMENT"
---| "DEADLINE_EXCEEDED"
---| "NOT_FOUND"
---| "ALREADY_EXISTS"
---| "PERMISSION_DENIED"
---| "RESOURCE_EXHAUSTED"
---| "FAILED_PRECONDITION"
---| "ABORTED"
---| "OUT_OF_RANGE"
---| "UNIMPLEMENTED"
---| "INTERNAL"
---| "UNAVAILABLE"
---| "DATA_LOSS"
---| "UNAUTHENTICATED"

---A status code: a number from 1 to 16 or its name (`5` or `"NOT_FOUND"`).
---@alias grpc.Code integer|grpc.StatusName

---A message as a Lua table: fields by their names in the `.proto`.
---@alias grpc.Message table

---A `google.protobuf.Any`, as `grpc.any_pack` makes it.
---@class grpc.Any
---@field type_url string `type.googleapis.com/<full type name>`
---@field value string the message's protobuf bytes

---A `google.protobuf.Timestamp` or `Duration` as a table.
---@class grpc.Time
---@field seconds integer
---@field nanos integer

---What the built-in health service answers for a service.
---@alias grpc.HealthStatus "SERVING"|"NOT_SERVING"|"SERVICE_UNKNOWN"|"UNKNOWN"

---The error value `grpc.error` raises, and the host raises when the call is cancelled
---(`CANCELLED`) or its deadline passed (`DEADLINE_EXCEEDED`). `pcall` catches it;
---`error(err, 0)` re-raises it with its status intact. `tostring(err)` is `"NAME: message"`.
---@class grpc.Error
---@field code integer    the status code, a value of grpc.status
---@field message string  the status message
---@field details grpc.Any[]? the details given to grpc.error, if any
---@field target string? for a status an outbound call raised: the client's target
---@field method string? for a status an outbound call raised: the method it called

---The call a handler serves: the handler's second argument (unary, server streaming) or its
---only one (client and bidi streaming). Valid only while its handler runs: a call object kept
---after the handler ends raises "the call has ended" when used.
---@class grpc.Call
---@field metadata table<string, string> request metadata: keys lower-case; a repeated key's values joined with ", "; `-bin` values decoded
---@field method string the full method name, `/package.Service/Method`
---@field peer string the client's address, such as `ipv4:127.0.0.1:53120`
---@field protocol "grpc"|"connect"|"grpc-web" how the client called: gRPC over HTTP/2, or Connect or gRPC-Web over HTTP/1.1
---@field deadline number? seconds left before the client's deadline (`0` once passed), `nil` without one; read afresh each time
---@field request_id string? the `x-fc-request-id` request header (Function Compute's request id), or `nil`
local Call = {}

---The next request message, or `nil` once the client has half-closed (and on every call
---after that). Suspends this handler until a message arrives. In unary and server-streaming
---methods it returns `nil` at once: the request is the handler's first argument.
---Raises `CANCELLED`/`DEADLINE_EXCEEDED` when the call was cancelled or its deadline passed.
---Only from the handler's own coroutine, not from a nested coroutine.
---@async
---@return grpc.Message?
function Call:recv() end

---An iterator over the request messages, for `for req in call:messages() do ... end`;
---it stops when the client half-closes. Each step is a `call:recv()`.
---@return fun(): grpc.Message?
function Call:messages() end

---Sends one response message (server and bidi streaming only; a unary or client-streaming
---handler returns its reply). Returns at once unless the previous message is still on its
---way; then suspends this handler (not its thread) until the client reads. A table of the
---wrong shape ends the call with `INTERNAL` naming the field (`reply.items[2].id: ...`).
---Raises `CANCELLED`/`DEADLINE_EXCEEDED` when the call was cancelled or its deadline passed.
---Only from the handler's own coroutine, not from a nested coroutine.
---@async
---@param msg grpc.Message
function Call:send(msg) end

---Adds a response header. Headers leave with the first message (or with the status), so set
---them before the first `call:send`; afterwards this raises an error. Keys: lower-case
---letters, digits, `-`, `_`, `.`, not starting with `grpc-`; values of keys ending in `-bin`
---may be any bytes, other values printable ASCII. Adding a key twice sends it twice.
---@param key string
---@param value string
function Call:set_header(key, value) end

---Adds a response trailer, sent with the status whatever it is (an error status too).
---Same rules for keys and values as `set_header`; allowed at any time before the handler ends.
---@param key string
---@param value string
function Call:set_trailer(key, value) end

---`true` once the client cancelled or the deadline passed. The host learns of it while the
---handler waits (in `recv`, `send` or `grpc.sleep`, which then raise); so it reads `true` in
---code that caught that error (`pcall`, a `<close>` handler). It stays `true`.
---@return boolean
function Call:cancelled() end

---The host's library: statuses, sleeping, time, health and the codec.
grpc = {}

---Status codes by name: `grpc.status.NOT_FOUND == 5`, `grpc.status.OK == 0`.
grpc.status = {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

---Ends the call with a status: raises a grpc.Error, so it never returns. `code` is a number
---from 1 to 16 or a name such as `"NOT_FOUND"` (upper case); `0`/`"OK"` or anything else
---raises a plain error instead (the call then ends `UNKNOWN`). Headers and trailers set so
---far go out with the status; messages sent so far stay sent. `details`, a list of Any tables
---(`grpc.any_pack("google.rpc.BadRequest", {...})`), go to the client as a google.rpc.Status
---in `grpc-status-details-bin`; one that does not encode is left out and logged.
---@param code grpc.Code
---@param message? string  the status message, `""` when left out
---@param details? grpc.Any[]
function grpc.error(code, message, details) end

---Sets what the built-in grpc.health.v1.Health answers for `service` (`""`: the whole
---server): "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" (Check answers NOT_FOUND), or "UNKNOWN"
---for the default (SERVING for "" and every service with a handler; NOT_SERVING for all
---from SIGTERM on). Process-wide, kept across reloads.
---@param service string
---@param status grpc.HealthStatus
function grpc.set_health(service, status) end

---Suspends this handler for `seconds` (a float, 0 to 1e9) without holding up any other
---call. Raises `CANCELLED`/`DEADLINE_EXCEEDED` when the call is cancelled or its deadline
---passes meanwhile, waking the handler early. Only from a handler's own coroutine: not at a
---script's top level, nor in a nested coroutine.
---@async
---@param seconds number
function grpc.sleep(seconds) end

---Wall-clock time: seconds since the Unix epoch, a float with sub-microsecond digits.
---@return number
function grpc.now() end

---Encodes `msg` as message type `type_name` (a full name, `"pkg.Msg"`) into protobuf bytes.
---Raises a plain error naming the field on a wrong shape or an unknown type.
---@param type_name string
---@param msg grpc.Message
---@return string bytes
function grpc.encode(type_name, msg) end

---Decodes protobuf bytes as message type `type_name` into a table.
---Raises a plain error on bad bytes or an unknown type.
---@param type_name string
---@param bytes string
---@return grpc.Message
function grpc.decode(type_name, bytes) end

---Packs `msg` of type `type_name` into a google.protobuf.Any table
---(`{type_url = "type.googleapis.com/<type>", value = <bytes>}`), as grpc.error's details take.
---@param type_name string
---@param msg grpc.Message
---@return grpc.Any
function grpc.any_pack(type_name, msg) end

---Unpacks a google.protobuf.Any table: the type name (after the last `/` of type_url) and the
---decoded message. Raises on an unknown type.
---@param any grpc.Any
---@return string type_name
---@return grpc.Message msg
function grpc.any_unpack(any) end

---A google.protobuf.Timestamp table: now, or `seconds` after the Unix epoch (a number; nanos
---always 0..999999999).
---@param seconds? number
---@return grpc.Time
function grpc.timestamp(seconds) end

---A google.protobuf.Duration table of `seconds` (nanos has the sign of seconds).
---@param seconds number
---@return grpc.Time
function grpc.duration(seconds) end

---A Timestamp or Duration table back to seconds, as a number.
---@param t grpc.Time
---@return number
function grpc.seconds(t) end

---Options of grpc.client, defaults for each of its calls.
---@class grpc.ClientOptions
---@field tls (boolean|{ca: string?, cert: string?, key: string?})? TLS: `true` checks the server against the system's roots; `ca` against those of a PEM file; `cert` and `key` add a client certificate
---@field authority string? the `:authority` sent, and the name the server's certificate must have
---@field metadata table<string, string>? sent with every call
---@field timeout number? seconds each call may take

---Options of one outbound call.
---@class grpc.CallOptions
---@field metadata table<string, string>? added to the client's
---@field timeout number? seconds; the incoming call's deadline applies anyway

---The response metadata of an outbound unary call.
---@class grpc.CallInfo
---@field headers table<string, string>?
---@field trailers table<string, string>?

---A client of another gRPC service. Calls suspend only the handler.
---@class grpc.Client
local Client = {}

---Calls a unary method (`"pkg.Service/Method"` of a loaded protoset). A status other than OK
---raises a grpc.Error with the server's code, message and details.
---@async
---@param method string
---@param request grpc.Message?
---@param opts grpc.CallOptions?
---@return grpc.Message reply
---@return grpc.CallInfo info
function Client:call(method, request, opts) end

---Opens a call of a streaming method (server, client or bidi streaming).
---@param method string
---@param opts grpc.CallOptions?
---@return grpc.Stream
function Client:stream(method, opts) end

---An outbound streaming call, usable only by the handler that opened it; cancelled when that
---handler ends.
---@class grpc.Stream
---@field headers table<string, string>? the server's headers, once they came
---@field trailers table<string, string>? the server's trailers, once the call ended
local Stream = {}

---Sends one request; suspends while the one before it is still on its way.
---@async
---@param msg grpc.Message
function Stream:send(msg) end

---No more requests (the client's half-close).
function Stream:close_send() end

---The next reply, or nil once the server ended with OK; raises a grpc.Error on another status.
---@async
---@return grpc.Message?
function Stream:recv() end

---An iterator over the replies.
---@return fun(): grpc.Message?
function Stream:messages() end

---Ends the call now; the server sees it cancelled.
function Stream:cancel() end

---A client of the gRPC service at target (`"host:port"`, `"dns:///name:port"`, `"unix:/path"`).
---Connects nothing: the worker's channel to the target is made on the first call and reused.
---@param target string
---@param opts grpc.ClientOptions?
---@return grpc.Client
function grpc.client(target, opts) end

---The options of `http.request`.
---@class http.Options
---@field method string? default `"GET"`; sent in upper case
---@field headers table<string, string|number>? request headers; `Host` and `User-Agent` are added unless given, `Content-Length` comes from `body`
---@field body string? the request body
---@field timeout number? seconds for the whole request (default 30); never past the call's deadline
---@field connect_timeout number? seconds to look up, connect and shake hands on a new connection (default 10)
---@field ca string? a PEM file of certificates to trust instead of the system's roots
---@field insecure boolean? `true`: do not check the server's certificate

---The response of `http.request`. A 4xx or 5xx status is a response, not an error.
---@class http.Response
---@field status integer the HTTP status
---@field headers table<string, string> names lower-case; a repeated header's values joined with ", "
---@field body string the whole body

---The host's HTTP client.
http = {}

---Sends one HTTP/1.1 request (TLS for `https://`, the certificate checked against the system's
---roots or `opts.ca`) on a kept-alive connection and returns the response; only this handler
---waits. A transport failure raises a grpc.Error naming the URL and the cause: `UNAVAILABLE`
---(refused, reset, DNS, TLS), `DEADLINE_EXCEEDED` (a timeout), `RESOURCE_EXHAUSTED` (a body
---over --max-message-bytes, --max-outbound), `PERMISSION_DENIED` (--outbound). Raises
---`CANCELLED` or `DEADLINE_EXCEEDED` when the call ends meanwhile. Not at a script's top
---level, nor in a nested coroutine.
---@async
---@param url string `http://` or `https://` host, port, path and query
---@param opts http.Options?
---@return http.Response
function http.request(url, opts) end

---`msg`, of message type `type_name`, as JSON text in protobuf's JSON mapping (lowerCamelCase
---names, 64-bit integers as strings, bytes as base64, enums by name, well-known types in their
---own forms; proto3 fields at their zero left out). Raises a plain error naming the field.
---@param type_name string
---@param msg grpc.Message
---@return string text
function grpc.to_json(type_name, msg) end

---JSON text in protobuf's JSON mapping (fields by JSON name or .proto name) to a table of message
---type `type_name`, shaped as a decoded request. Raises a plain error naming the field, or the
---character, line and column of a syntax error.
---@param type_name string
---@param text string
---@return grpc.Message
function grpc.from_json(type_name, text) end

---JSON text (RFC 8259) to Lua values and back. Reference: docs/handlers.md, "The `json` library".
json = {}

---Stands for JSON `null` both ways (a light userdata, as lua-cjson's `cjson.null`).
---@type lightuserdata
json.null = nil

---Encodes as `[]`: an empty table alone encodes as `{}`.
---@type lightuserdata
json.empty_array = nil

---A table with this metatable encodes as an array, even when empty; json.decode gives it to every array.
---@type table
json.array_mt = {}

---A Lua value as JSON text: tables with keys 1..n are arrays, with string keys objects; integers
---exact, floats in the fewest digits that read back the same. Raises naming the path
---(`json.encode: items[3].name: invalid UTF-8 (byte 2)`) on NaN, infinities, functions,
---userdata, mixed or odd keys, invalid UTF-8, nesting past 100 levels.
---@param value any
---@return string text
function json.encode(value) end

---JSON text to a Lua value: integers within 64 bits as integers, other numbers as floats, null
---as json.null, arrays with json.array_mt. Raises naming the character, line and column of a
---syntax error.
---@param text string
---@return any value
function json.decode(text) end

---A value the shared store holds: it comes back as it went in (integer, float, string, boolean).
---@alias shared.Value string|number|boolean

---One key-value store for the whole process: every worker sees it, and reloads keep it. Per
---instance: another instance of the function has its own. `--shared-memory-mb` bounds it;
---the least recently used keys go when it is full. Works as OpenResty's ngx.shared.DICT.
shared = {}

---The value of `key`, or `nil` when it is missing or expired.
---@param key string
---@return shared.Value?
function shared.get(key) end

---Stores `value` under `key` (`nil` deletes it), for `ttl` seconds (a float; 0 or none: until
---deleted or evicted). `forcible` is true when keys that had not expired were evicted to make
---room. Raises on a table, function or userdata value, a bad key or ttl, or an entry larger
---than the store allows (1 MiB).
---@param key string
---@param value shared.Value?
---@param ttl? number
---@return true ok
---@return nil err
---@return boolean forcible
function shared.set(key, value, ttl) end

---As `set`, but only when `key` has no value (an expired one counts as none); else returns
---`false, "exists", false`.
---@param key string
---@param value shared.Value
---@param ttl? number
---@return boolean ok
---@return "exists"? err
---@return boolean forcible
function shared.add(key, value, ttl) end

---Adds `n` to the number under `key`, atomically across workers, and returns the sum: integers
---stay integers (wrapping around), a float on either side gives a float. A missing key starts
---at `init` (`init + n`, with no ttl); without `init` it returns `nil, "not found"`. Raises when
---the value is a string or a boolean. The key's ttl stays as it was.
---@param key string
---@param n number
---@param init? number
---@return number? value
---@return "not found"? err
---@return boolean? forcible
function shared.incr(key, n, init) end

---Removes `key`.
---@param key string
function shared.delete(key) end

---Records in the host's log format (logfmt, or JSON with `--log-format json`): `ts`, `level`,
---`msg`, the `method` and `request_id` of the call whose handler writes it, then `fields`.
log = {}

---Fields of a record: at most 32 names (letters, digits, `_`, `.`, `-`, starting with a letter
---or `_`; not ts, level, msg, method, request_id) to strings, numbers or booleans.
---@alias log.Fields table<string, string|number|boolean>

---Writes an info record.
---@param msg string
---@param fields? log.Fields
function log.info(msg, fields) end

---Writes a warn record.
---@param msg string
---@param fields? log.Fields
function log.warn(msg, fields) end

---Writes an error record.
---@param msg string
---@param fields? log.Fields
function log.error(msg, fields) end

---Writes a `log.info` record whose message is the arguments as `tostring` shows them,
---separated by tabs.
---@param ... any
function print(...) end

return grpc
