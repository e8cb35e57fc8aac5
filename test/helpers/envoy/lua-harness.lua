--[[
A stand-in for the parts of Envoy's Lua HTTP filter API that envoy-load-shedder.lua uses, so
its behaviour can be tested under LuaJIT without an Envoy binary.

  luajit lua-harness.lua <filter.lua> < scenario.json

It behaves like one Envoy worker: the filter is loaded once into this Lua state, then each
request runs envoy_on_request as a coroutine, as Envoy does. httpCall and respond yield, as
they do in Envoy, so a refresh can be held "in flight" while other requests run. Passed
requests then run envoy_on_response on a scripted upstream answer.

Scenario (JSON on stdin):
  {
    "metadata": { ...route filter_metadata for envoy.filters.http.lua... } | null,
    "clusters": ["prometheus"],            -- configured clusters; httpCall to others raises
    "steps": [
      { "id": "a", "time": 1000,             -- os.time() while this step runs (default: previous)
        "path": "/inference.GRPCInferenceService/ModelInfer",
        "contentType": "application/grpc",   -- default application/grpc; null for none
        "method": "POST",
        "metadata": {...} | null,            -- this request's route metadata (default: the top one)
        "prometheus": { "status": "200", "body": "..." }   -- reply to this request's httpCall
                    | { "fail": true }       -- reset / no host: Envoy's synthetic 503 "upstream failure"
                    | { "timeout": true }    -- the router's 504 "upstream request timeout"
                    | { "hold": true },      -- leave the call pending until a release step
        "upstream": { "headers": {...}, "body": "...", "trailers": {...} | null } },
      { "release": "a", "time": 1001, "prometheus": { "status": "200", "body": "..." } }
    ]
  }

Output: one JSON line per finished request, in the order they finish, then a summary line
  { "summary": true, "globals": [...], "httpCalls": n, "pending": [ids never released] }.
A Lua error raised by the filter is caught and reported in "error" / "responseError".
]]

---------------------------------------------------------------------------------------------
-- JSON
---------------------------------------------------------------------------------------------

local json = {}
json.null = setmetatable({}, { __tostring = function() return "null" end })
local ARRAY = { __jsontype = "array" }

function json.array(t) return setmetatable(t or {}, ARRAY) end

function json.decode(text)
  local pos = 1
  local function fail(what) error(string.format("JSON: %s at byte %d", what, pos), 0) end
  local function skip() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value

  local function utf8(code)
    if code < 0x80 then return string.char(code) end
    if code < 0x800 then return string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64) end
    return string.char(0xE0 + math.floor(code / 4096), 0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
  end

  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local c = text:sub(pos, pos)
      if c == "" then fail("unterminated string") end
      if c == '"' then pos = pos + 1; return table.concat(parts) end
      if c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" })[e]
        if simple then
          parts[#parts + 1] = simple
          pos = pos + 2
        elseif e == "u" then
          local hex = text:sub(pos + 2, pos + 5)
          local code = tonumber(hex, 16)
          if not code or #hex ~= 4 then fail("bad \\u escape") end
          pos = pos + 6
          -- A surrogate pair encodes one code point above U+FFFF.
          if code >= 0xD800 and code <= 0xDBFF and text:sub(pos, pos + 1) == "\\u" then
            local low = tonumber(text:sub(pos + 2, pos + 5), 16) or 0
            code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
            pos = pos + 6
            parts[#parts + 1] = string.char(0xF0 + math.floor(code / 262144), 0x80 + math.floor(code / 4096) % 64,
              0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
          else
            parts[#parts + 1] = utf8(code)
          end
        else
          fail("bad escape")
        end
      else
        local stop = text:find('["\\]', pos) or #text + 1
        parts[#parts + 1] = text:sub(pos, stop - 1)
        pos = stop
      end
    end
  end

  function value()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local obj = {}
      skip()
      if text:sub(pos, pos) == "}" then pos = pos + 1; return obj end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then fail("expected a key") end
        local key = str()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        obj[key] = value()
        skip()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "}" then return obj end
        if sep ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local arr = json.array()
      skip()
      if text:sub(pos, pos) == "]" then pos = pos + 1; return arr end
      while true do
        arr[#arr + 1] = value()
        skip()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "]" then return arr end
        if sep ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif text:find("^true", pos) then
      pos = pos + 4; return true
    elseif text:find("^false", pos) then
      pos = pos + 5; return false
    elseif text:find("^null", pos) then
      pos = pos + 4; return json.null
    else
      local num = text:match("^-?%d+%.?%d*[eE]?[%+%-]?%d*", pos)
      if not num or not tonumber(num) then fail("unexpected character") end
      pos = pos + #num
      return tonumber(num)
    end
  end

  local result = value()
  skip()
  if pos <= #text then fail("trailing data") end
  return result
end

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = ({ ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" })[c]
    return named or string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function json.encode(v)
  local t = type(v)
  if v == nil or v == json.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if t == "string" then return encode_string(v) end
  if t == "table" then
    local parts = {}
    if getmetatable(v) == ARRAY then
      for i = 1, #v do parts[i] = json.encode(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = encode_string(k) .. ":" .. json.encode(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return encode_string("<" .. t .. ">")
end

-- JSON null means "absent" everywhere in a scenario except where a step says otherwise.
local function present(v)
  if v == json.null then return nil end
  return v
end

---------------------------------------------------------------------------------------------
-- The fake Envoy API
---------------------------------------------------------------------------------------------

local state = {
  clock = 1000,
  http_calls = 0,
  clusters = {},
}

-- Every method checks that it was called with ':' on its own object, as Envoy's userdata does.
local function methods(object, name, functions)
  for method, fn in pairs(functions) do
    object[method] = function(self, ...)
      if self ~= object then error(name .. ":" .. method .. "() must be called with ':'", 2) end
      return fn(...)
    end
  end
  return object
end

local function check_string(value, what)
  if type(value) == "number" then return tostring(value) end -- luaL_checkstring converts numbers
  if type(value) ~= "string" then error(what .. " must be a string, got " .. type(value), 3) end
  return value
end

-- Header map with case-insensitive keys; get() joins repeated values with ',' like Envoy.
local function header_map(initial, name)
  local entries = {}
  for key, value in pairs(initial or {}) do
    if value ~= json.null then entries[#entries + 1] = { key:lower(), tostring(value) } end
  end
  table.sort(entries, function(a, b) return a[1] < b[1] end)
  local map = {}
  methods(map, name, {
    get = function(key)
      key = check_string(key, "header name"):lower()
      local values = {}
      for _, entry in ipairs(entries) do
        if entry[1] == key then values[#values + 1] = entry[2] end
      end
      if #values == 0 then return nil end
      return table.concat(values, ",")
    end,
    add = function(key, value)
      entries[#entries + 1] = { check_string(key, "header name"):lower(), check_string(value, "header value") }
    end,
    replace = function(key, value)
      key = check_string(key, "header name"):lower()
      value = check_string(value, "header value")
      for _, entry in ipairs(entries) do
        if entry[1] == key then entry[2] = value; return end
      end
      entries[#entries + 1] = { key, value }
    end,
    remove = function(key)
      key = check_string(key, "header name"):lower()
      for i = #entries, 1, -1 do
        if entries[i][1] == key then table.remove(entries, i) end
      end
    end,
  })
  -- Not part of Envoy's API: lets the harness report the final headers.
  function map.__snapshot()
    local out = {}
    for _, entry in ipairs(entries) do
      out[entry[1]] = out[entry[1]] and (out[entry[1]] .. "," .. entry[2]) or entry[2]
    end
    return out
  end
  return map
end

-- Envoy builds headers for respond()/httpCall() from a Lua table of strings or string lists.
local function table_headers(t, what)
  if type(t) ~= "table" then error(what .. " headers must be a table", 3) end
  local out = {}
  for key, value in pairs(t) do
    if type(key) ~= "string" then error(what .. " header names must be strings", 3) end
    if type(value) == "table" then
      local list = {}
      for _, v in ipairs(value) do list[#list + 1] = check_string(v, what .. " header value") end
      out[key:lower()] = table.concat(list, ",")
    else
      out[key:lower()] = check_string(value, what .. " header " .. key)
    end
  end
  return out
end

local function buffer(stream, text)
  local data = text
  local wrapper = {}
  return methods(wrapper, "buffer", {
    length = function() return #data end,
    getBytes = function(index, length)
      if index < 0 or length < 0 or index + length > #data then
        error("index/length must be >= 0 and (index + length) must be <= buffer size", 2)
      end
      return data:sub(index + 1, index + length)
    end,
    setBytes = function(bytes)
      data = check_string(bytes, "body")
      stream.body_text = data
      -- Envoy's BufferWrapper::luaSetBytes also rewrites content-length.
      stream.headers:replace("content-length", tostring(#data))
      return #data
    end,
  })
end

local function logger(stream, level)
  return function(message)
    stream.logs[#stream.logs + 1] = { level = level, message = check_string(message, "log message") }
  end
end

local function new_stream(flow, stream)
  stream.logs = stream.logs or json.array()
  local handle = {}
  local api = {
    headers = function() return stream.headers end,
    metadata = function()
      local route = stream.route_metadata
      local metadata = {}
      return methods(metadata, "metadata", {
        get = function(key)
          if route == nil then return nil end
          return present(route[check_string(key, "metadata key")])
        end,
      })
    end,
    streamInfo = function()
      local info = {}
      return methods(info, "streamInfo", {
        dynamicMetadata = function()
          local dynamic = {}
          return methods(dynamic, "dynamicMetadata", {
            set = function(filter, key, value)
              filter = check_string(filter, "filter name")
              stream.dynamic[filter] = stream.dynamic[filter] or {}
              stream.dynamic[filter][check_string(key, "metadata key")] = value
            end,
            get = function(filter)
              local entry = stream.dynamic[check_string(filter, "filter name")]
              if entry == nil then return nil end
              local copy = {}
              for k, v in pairs(entry) do copy[k] = v end
              return copy
            end,
          })
        end,
      })
    end,
    httpCall = function(cluster, headers, body, timeout_ms, asynchronous)
      cluster = check_string(cluster, "cluster")
      local sent = table_headers(headers, "http call")
      if body ~= nil then check_string(body, "http call body") end
      if type(timeout_ms) ~= "number" then error("bad argument #5 to 'httpCall' (number expected)", 2) end
      if timeout_ms < 0 then error("http call timeout must be >= 0", 2) end
      if asynchronous ~= nil and type(asynchronous) ~= "boolean" then
        error("http call asynchronous flag must be 'true', 'false', or empty", 2)
      end
      if not state.clusters[cluster] then error("http call cluster invalid. Must be configured", 2) end
      if not (sent[":path"] and sent[":method"] and sent[":authority"]) then
        error("http call headers must include ':path', ':method', and ':authority'", 2)
      end
      state.http_calls = state.http_calls + 1
      stream.calls[#stream.calls + 1] = {
        cluster = cluster, headers = sent, body = body or json.null, timeoutMs = math.floor(timeout_ms),
      }
      if asynchronous then return end
      return coroutine.yield({ op = "httpCall" })
    end,
    respond = function(headers, body)
      if flow ~= "request" then error("respond() is only valid in the request flow", 2) end
      local sent = table_headers(headers, "respond")
      local status = tonumber(sent[":status"] or "")
      if not status or status < 200 or status >= 600 then error(":status must be between 200-599", 2) end
      if body ~= nil then body = check_string(body, "respond body") end
      coroutine.yield({ op = "respond", headers = sent, body = body or json.null })
      error("the script resumed after respond()", 0) -- Envoy never resumes it
    end,
    body = function()
      if stream.body_text == nil or stream.body_text == "" then return nil end -- headers-only
      return buffer(stream, stream.body_text)
    end,
    trailers = function() return stream.trailers end,
  }
  for _, level in ipairs({ "Trace", "Debug", "Info", "Warn", "Err", "Critical" }) do
    api["log" .. level] = logger(stream, level:lower())
  end
  return methods(handle, "handle", api)
end

---------------------------------------------------------------------------------------------
-- Running a scenario
---------------------------------------------------------------------------------------------

local function prometheus_reply(spec)
  spec = present(spec)
  if spec == nil then return { [":status"] = "503" }, "harness: no Prometheus reply scripted" end
  if present(spec.fail) then return { [":status"] = "503" }, "upstream failure" end
  if present(spec.timeout) then return { [":status"] = "504" }, "upstream request timeout" end
  local headers = { [":status"] = tostring(present(spec.status) or "200") }
  for k, v in pairs(present(spec.headers) or {}) do headers[k] = v end
  -- Envoy passes nil, not "", when the answer has no body.
  local body = present(spec.body)
  if body == "" then body = nil end
  return headers, body
end

local function traceback(co, err)
  return debug.traceback(co, tostring(err))
end

-- Resumes a coroutine until it finishes, responds, fails or holds an httpCall. Returns
-- "done", "responded", "error" or "held".
local function drive(stream, co, ...)
  local ok, yielded = coroutine.resume(co, ...)
  while true do
    if not ok then
      stream.error_text = traceback(co, yielded)
      return "error"
    end
    if coroutine.status(co) == "dead" then return "done" end
    if type(yielded) ~= "table" then
      stream.error_text = "the script yielded outside an Envoy call"
      return "error"
    end
    if yielded.op == "respond" then
      stream.responded = yielded
      return "responded"
    end
    if yielded.op == "httpCall" then
      local spec = present(stream.prometheus)
      if spec ~= nil and present(spec.hold) then
        stream.held = co
        return "held"
      end
      ok, yielded = coroutine.resume(co, prometheus_reply(spec))
    else
      stream.error_text = "unexpected yield " .. tostring(yielded.op)
      return "error"
    end
  end
end

local function emit(line) io.write(json.encode(line), "\n") end

local function run_response(stream)
  local upstream = present(stream.upstream) or {}
  local headers = present(upstream.headers) or { [":status"] = "200", ["content-type"] = "application/grpc" }
  local body = present(upstream.body)
  if body == nil then body = "upstream-answer" end
  local trailers = upstream.trailers
  if trailers == nil then trailers = { ["grpc-status"] = "0" } end

  local response = {
    headers = header_map(headers, "response headers"),
    trailers = present(trailers) and header_map(trailers, "response trailers") or nil,
    body_text = body,
    dynamic = stream.dynamic,
    logs = stream.logs,
    calls = stream.calls,
  }
  if type(envoy_on_response) == "function" then
    local handle = new_stream("response", response)
    local co = coroutine.create(envoy_on_response)
    local outcome = drive(response, co, handle)
    if outcome == "error" then stream.response_error = response.error_text end
    if outcome == "held" or outcome == "responded" then
      stream.response_error = "envoy_on_response " .. outcome .. " unexpectedly"
    end
  end
  return {
    headers = response.headers.__snapshot(),
    body = response.body_text,
    trailers = response.trailers and response.trailers.__snapshot() or json.null,
  }
end

local function finish(stream, outcome)
  local result = {
    id = stream.id,
    time = state.clock,
    httpCalls = state.http_calls,
    calls = stream.calls,
    logs = stream.logs,
    error = stream.error_text or json.null,
    passed = outcome == "done",
    marked = (stream.dynamic["envoy.filters.http.lua"] or {}).overloaded == true,
  }
  if outcome == "responded" then
    result.status = stream.responded.headers[":status"]
    result.refused = { headers = stream.responded.headers, body = stream.responded.body }
  elseif outcome == "done" then
    result.response = run_response(stream)
    result.status = result.response.headers[":status"]
    result.responseError = stream.response_error or json.null
  end
  emit(result)
end

local function main()
  local filter_path = arg[1]
  if not filter_path then
    io.stderr:write("usage: luajit lua-harness.lua <filter.lua> < scenario.json\n")
    os.exit(2)
  end
  local scenario = json.decode(io.read("*a"))

  -- A controllable clock: the filter sees the scenario's time through os.time().
  local real_time = os.time
  os.time = function(t)
    if t ~= nil then return real_time(t) end
    return state.clock
  end

  for _, cluster in ipairs(present(scenario.clusters) or { "prometheus" }) do state.clusters[cluster] = true end

  local globals_before = {}
  for k in pairs(_G) do globals_before[k] = true end
  local chunk, load_error = loadfile(filter_path)
  if not chunk then
    emit({ loadError = load_error })
    os.exit(1)
  end
  local ok, run_error = pcall(chunk)
  if not ok then
    emit({ loadError = tostring(run_error) })
    os.exit(1)
  end

  local pending = {}
  local default_metadata = present(scenario.metadata)
  for index, step in ipairs(scenario.steps or {}) do
    if present(step.time) then state.clock = step.time end
    if present(step.release) then
      local stream = pending[step.release]
      if not stream then error("step " .. index .. ": nothing held for " .. tostring(step.release)) end
      pending[step.release] = nil
      -- The held call returns this step's reply; any later call of that request gets it too.
      stream.prometheus = step.prometheus
      local co = stream.held
      stream.held = nil
      finish(stream, drive(stream, co, prometheus_reply(step.prometheus)))
    else
      local metadata = default_metadata
      if step.metadata ~= nil then metadata = present(step.metadata) end
      local content_type = step.contentType
      if content_type == nil then content_type = "application/grpc" end
      local stream = {
        id = present(step.id) or tostring(index),
        route_metadata = metadata,
        prometheus = step.prometheus,
        upstream = step.upstream,
        dynamic = {},
        calls = json.array(),
        logs = json.array(),
      }
      stream.headers = header_map({
        [":path"] = present(step.path) or "/",
        [":method"] = present(step.method) or "POST",
        [":authority"] = "supersonic.example",
        ["content-type"] = present(content_type),
      }, "request headers")
      local handle = new_stream("request", stream)
      local outcome = "done"
      if type(envoy_on_request) == "function" then
        outcome = drive(stream, coroutine.create(envoy_on_request), handle)
      end
      if outcome == "held" then
        pending[stream.id] = stream
      else
        finish(stream, outcome)
      end
    end
  end

  local globals = json.array()
  for k in pairs(_G) do
    if not globals_before[k] then globals[#globals + 1] = tostring(k) end
  end
  table.sort(globals)
  local still_pending = json.array()
  for id in pairs(pending) do still_pending[#still_pending + 1] = id end
  table.sort(still_pending)
  emit({ summary = true, globals = globals, httpCalls = state.http_calls, pending = still_pending })
end

main()
