--[[
SuperSONIC load shedder: an Envoy Lua HTTP filter (envoy.filters.http.lua) in front of Triton.

It reads the server load from Prometheus (an instant query), keeps the last measurement per
Envoy worker, and when the load is above a threshold either refuses inference calls ("shed")
or marks RepositoryIndex answers the way SuperSONIC 0.3.1 did ("signal").

Configuration: the matched route's metadata, filter_metadata["envoy.filters.http.lua"], read
with handle:metadata():get(key). Nothing is substituted into this file.

  key              type     default          meaning
  mode             string   (required)       "shed" or "signal" (see below)
  threshold        number   (required)       overloaded when load > threshold
  query            string   (required)       PromQL instant query; with several series the largest wins
  cluster          string   (required)       Envoy cluster that reaches Prometheus
  authority        string   (required)       Host / :authority header sent to Prometheus
  path             string   "/api/v1/query"  Prometheus query endpoint
  refresh_seconds  number   5                ask Prometheus at most this often (per worker), > 0
  timeout_ms       number   1000             Prometheus call timeout in milliseconds, >= 1
  fail_open        boolean  true             load unknown: true lets calls through, false treats
                                             the server as overloaded

A missing or invalid configuration never raises: it is logged once per worker and every request
goes through untouched.

Modes, when the load is above the threshold:
  shed    inference calls are refused before they reach Triton: gRPC ModelInfer and
          ModelStreamInfer get a trailers-only answer with grpc-status 8 (RESOURCE_EXHAUSTED),
          HTTP /v2/models/<name>[/versions/<v>]/infer gets 429 with retry-after.
          Health, metadata and repository calls always pass, so clients still see the server.
  signal  only gRPC RepositoryIndex calls are affected: they are still forwarded, but the
          answer is emptied and gets grpc-status 1, which CMSSW clients read as "go elsewhere".

The load is "unknown" when Prometheus cannot be reached, times out, answers non-200, answers
status "error", or returns an empty body, malformed JSON, no series, or only NaN. Unknown load
follows fail_open, and is logged (logWarn) once per refresh with the reason.
]]

local FILTER_NAME = "envoy.filters.http.lua"
local LOG_PREFIX = "load-shedder: "

local DEFAULTS = {
  path = "/api/v1/query",
  refresh_seconds = 5,
  timeout_ms = 1000,
  fail_open = true,
}

local GRPC_INFER_PATHS = {
  ["/inference.GRPCInferenceService/ModelInfer"] = true,
  ["/inference.GRPCInferenceService/ModelStreamInfer"] = true,
}
local GRPC_REPOSITORY_INDEX_PATH = "/inference.GRPCInferenceService/RepositoryIndex"

-- Per-worker state. Envoy gives each worker thread its own Lua state, so these tables are
-- never shared between threads and need no locking.

-- Last measurement per Prometheus query: { value = number|nil, reason = string|nil,
-- fetched_at = os.time()|nil, in_flight_since = os.time()|nil }.
local measurements = {}
-- Configuration problems already logged, so a broken route logs once, not once per request.
local reported_problems = {}

---------------------------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------------------------

local function is_finite_number(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

local function non_empty_string(v)
  return type(v) == "string" and v ~= ""
end

-- Formats a load or threshold for messages: "+Inf" like Prometheus rather than Lua's "inf".
local function format_number(v)
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v ~= v then return "NaN" end
  return string.format("%.6g", v)
end

-- Header values must not carry control characters, and '%' starts an escape in grpc-message,
-- so anything we did not write ourselves (Prometheus error text) goes through this first.
local function header_safe(text, max_length)
  local safe = tostring(text):gsub("[%c%%\128-\255]", " ")
  if #safe > max_length then safe = safe:sub(1, max_length) .. "..." end
  return safe
end

-- RFC 3986 percent-encoding: everything except the unreserved characters.
local function url_encode(text)
  return (text:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function log_problem_once(handle, message)
  if reported_problems[message] then return end
  reported_problems[message] = true
  handle:logErr(LOG_PREFIX .. message .. "; requests pass through unchecked")
end

---------------------------------------------------------------------------------------------
-- Configuration
---------------------------------------------------------------------------------------------

local CONFIG_KEYS = { "mode", "threshold", "query", "cluster", "authority", "path",
  "refresh_seconds", "timeout_ms", "fail_open" }

-- Reads every key from the route metadata. Envoy returns an empty metadata object when the
-- route has none; the pcall only guards against an unexpected API error, which must not
-- turn into a script error on every request.
local function read_route_metadata(handle)
  local ok, values = pcall(function()
    local metadata = handle:metadata()
    local found = {}
    if metadata == nil then return found end
    for _, key in ipairs(CONFIG_KEYS) do found[key] = metadata:get(key) end
    return found
  end)
  if not ok then return nil, "cannot read the route metadata: " .. tostring(values) end
  return values
end

-- Returns a validated configuration table, or nil and a description of every problem.
local function load_config(handle)
  local raw, read_error = read_route_metadata(handle)
  if raw == nil then return nil, read_error end
  if next(raw) == nil then
    return nil, "no configuration in the route metadata under " .. FILTER_NAME
  end

  local problems = {}
  local function problem(key, expected)
    local got = raw[key]
    if type(got) == "string" then got = string.format("%q", got) else got = tostring(got) end
    problems[#problems + 1] = string.format("%s must be %s (got %s)", key, expected, got)
  end
  local function optional(key)
    if raw[key] == nil then return DEFAULTS[key] end
    return raw[key]
  end

  local config = {
    mode = raw.mode,
    threshold = raw.threshold,
    query = raw.query,
    cluster = raw.cluster,
    authority = raw.authority,
    path = optional("path"),
    refresh_seconds = optional("refresh_seconds"),
    timeout_ms = optional("timeout_ms"),
    fail_open = optional("fail_open"),
  }

  if config.mode ~= "shed" and config.mode ~= "signal" then problem("mode", '"shed" or "signal"') end
  -- +Inf/-Inf thresholds are odd but well defined; NaN would make every comparison false.
  if type(config.threshold) ~= "number" or config.threshold ~= config.threshold then
    problem("threshold", "a number")
  end
  for _, key in ipairs({ "query", "cluster", "authority" }) do
    if not non_empty_string(config[key]) then problem(key, "a non-empty string") end
  end
  if type(config.path) ~= "string" or config.path:sub(1, 1) ~= "/" then
    problem("path", 'a string starting with "/"')
  end
  if not is_finite_number(config.refresh_seconds) or config.refresh_seconds <= 0 then
    problem("refresh_seconds", "a number > 0")
  end
  -- Envoy treats a 0 ms timeout as "no timeout", which could hold a request forever.
  if not is_finite_number(config.timeout_ms) or config.timeout_ms < 1 then
    problem("timeout_ms", "a number >= 1")
  end
  if type(config.fail_open) ~= "boolean" then problem("fail_open", "a boolean") end

  if #problems > 0 then return nil, "invalid configuration: " .. table.concat(problems, "; ") end
  config.timeout_ms = math.floor(config.timeout_ms)
  return config
end

---------------------------------------------------------------------------------------------
-- Parsing Prometheus' answer
--
-- Not a JSON parser: a careful scan for the pieces we need. It relies on what Prometheus'
-- encoder guarantees: "status" is the first key of the answer (labels come later, inside
-- "data"), and label values are JSON strings, whose quotes are escaped, so a pattern that
-- needs an unescaped `"value":[` cannot match inside them. Every path returns; none raises.
---------------------------------------------------------------------------------------------

-- Prometheus writes sample values as strings: decimal, exponent, "+Inf", "-Inf" or "NaN".
local SPECIAL_VALUES = { ["+Inf"] = math.huge, ["Inf"] = math.huge, ["-Inf"] = -math.huge }

-- Returns the number, NaN for "NaN", or nil if the text is not a Prometheus sample value.
-- The shape is checked first because LuaJIT's tonumber also takes hex, "inf" and spaces.
local function parse_sample_value(text)
  if SPECIAL_VALUES[text] then return SPECIAL_VALUES[text] end
  if text == "NaN" then return 0 / 0 end
  if text:find("^[%+%-]?%d*%.?%d*$") or text:find("^[%+%-]?%d*%.?%d*[eE][%+%-]?%d+$") then
    return tonumber(text) -- nil for shapes without digits such as "." or "+e5"
  end
  return nil
end

local function is_timestamp(text)
  return text:find("^[%d%.eE%+%-]+$") ~= nil and tonumber(text) ~= nil
end

-- A sample is `[<timestamp>, "<value>"]`, with any whitespace; captures both texts.
local SAMPLE_PATTERN = '%[%s*([^,%]]-)%s*,%s*"([^"]*)"%s*%]'
local VECTOR_SAMPLE_PATTERN = '"value"%s*:%s*' .. SAMPLE_PATTERN

-- Largest of the vector's samples. NaN series are skipped (an idle replica's 0/0 rate says
-- nothing about the busy ones); only NaN everywhere makes the load unknown.
local function max_of_vector(body, init)
  if body:find("^%s*%]", init) then return nil, "the query returned no series" end
  local max, samples = nil, 0
  local position = init
  while true do
    local _, last, timestamp, text = body:find(VECTOR_SAMPLE_PATTERN, position)
    if last == nil then break end
    position = last + 1
    local value = parse_sample_value(text)
    if value == nil or not is_timestamp(timestamp) then
      return nil, "malformed sample [" .. timestamp .. ', "' .. text .. '"]'
    end
    samples = samples + 1
    if value == value and (max == nil or value > max) then max = value end -- NaN ~= NaN
  end
  if max ~= nil then return max end
  if samples > 0 then return nil, "the query returned NaN" end
  return nil, 'no "value" sample in the result'
end

-- Returns the load (a number, possibly +/-Inf) or nil and the reason it is unknown.
local function parse_prometheus_answer(body)
  if type(body) ~= "string" or not body:find("%S") then
    return nil, "empty body from Prometheus"
  end
  if not body:find("^%s*{") or not body:find("}%s*$") then
    return nil, "malformed JSON from Prometheus (not an object)"
  end
  local status = body:match('"status"%s*:%s*"([^"]*)"')
  if status == nil then return nil, 'malformed JSON from Prometheus (no "status")' end
  if status ~= "success" then
    local err = body:match('"error"%s*:%s*"([^"]*)"')
    return nil, 'Prometheus answered status "' .. status .. '"' .. (err and (": " .. err) or "")
  end

  local result_type = body:match('"resultType"%s*:%s*"([^"]*)"')
  local _, array_start = body:find('"result"%s*:%s*%[')
  if result_type == nil or array_start == nil then
    return nil, 'malformed JSON from Prometheus (no "resultType" or "result")'
  end
  if result_type == "vector" then return max_of_vector(body, array_start + 1) end
  if result_type == "scalar" then
    -- scalar(...) answers `"result":[<ts>,"<value>"]`; its `[` is the sample's own.
    local timestamp, text = body:match("^" .. SAMPLE_PATTERN, array_start)
    local value = text and parse_sample_value(text)
    if value == nil or not is_timestamp(timestamp) then return nil, "malformed scalar result" end
    if value ~= value then return nil, "the query returned NaN" end
    return value
  end
  return nil, 'unsupported resultType "' .. result_type .. '" (the query must be an instant vector or scalar)'
end

---------------------------------------------------------------------------------------------
-- Asking Prometheus, and the per-worker cache
---------------------------------------------------------------------------------------------

-- Returns the load or nil and a reason. httpCall suspends this coroutine until Prometheus
-- answers; Envoy reports a reset or unreachable cluster as a synthetic 503 and a timeout as
-- 504. The pcall catches what Envoy raises instead (e.g. an unknown cluster name), which
-- would otherwise be a script error on every request; LuaJIT can yield across pcall.
local function fetch_load(handle, config)
  local separator = config.path:find("?", 1, true) and "&" or "?"
  local request_headers = {
    [":method"] = "GET",
    [":path"] = config.path .. separator .. "query=" .. url_encode(config.query),
    [":authority"] = config.authority,
  }
  local ok, headers, body = pcall(handle.httpCall, handle, config.cluster, request_headers, "",
    config.timeout_ms)
  if not ok then return nil, "the Prometheus call failed: " .. tostring(headers) end
  local status = type(headers) == "table" and headers[":status"] or nil
  if status ~= "200" then
    local detail = type(body) == "string" and body:match('"error"%s*:%s*"([^"]*)"') or body
    local reason = "Prometheus answered HTTP " .. tostring(status)
    if type(detail) == "string" and detail ~= "" then reason = reason .. ": " .. detail end
    return nil, reason
  end
  return parse_prometheus_answer(body)
end

-- A refresh whose request stream died while waiting (client gone) never completes; after
-- this long, another request may start a new one instead of waiting forever.
local function in_flight_limit(config)
  return math.ceil(config.timeout_ms / 1000) + 1
end

-- Returns the current measurement { value, reason }, asking Prometheus only when the cached
-- one is older than refresh_seconds and no other request of this worker is already asking.
local function current_load(handle, config)
  local key = table.concat({ config.cluster, config.authority, config.path, config.query }, "\n")
  local entry = measurements[key]
  if entry == nil then
    entry = {}
    measurements[key] = entry
  end

  local now = os.time()
  if entry.fetched_at ~= nil and now - entry.fetched_at < config.refresh_seconds then
    return entry
  end
  if entry.in_flight_since ~= nil and now - entry.in_flight_since <= in_flight_limit(config) then
    -- Someone else is refreshing: use what we have rather than pile onto Prometheus.
    if entry.fetched_at ~= nil then return entry end
    return { value = nil, reason = "the first measurement is still in flight" }
  end

  entry.in_flight_since = now
  local value, reason = fetch_load(handle, config)
  entry.value, entry.reason = value, reason
  entry.fetched_at, entry.in_flight_since = os.time(), nil
  if value == nil then
    -- Once per refresh: later requests reuse this entry without logging again.
    handle:logWarn(string.format("%sserver load unknown (%s); %s until the next refresh in %ss",
      LOG_PREFIX, header_safe(reason, 300),
      config.fail_open and "letting requests through" or "treating the server as overloaded",
      format_number(config.refresh_seconds)))
  else
    handle:logDebug(LOG_PREFIX .. "server load " .. format_number(value))
  end
  return entry
end

-- Returns true when the request must be treated as overloaded, and the client-facing reason.
local function is_overloaded(load, config)
  if load.value == nil then
    -- Prometheus' own error text stays in Envoy's log; clients only learn the policy.
    return not config.fail_open, "server load unknown, retry later"
  end
  if load.value > config.threshold then
    return true, string.format("server overloaded: %s > %s, retry later",
      format_number(load.value), format_number(config.threshold))
  end
  return false
end

---------------------------------------------------------------------------------------------
-- Requests
---------------------------------------------------------------------------------------------

local function is_grpc(content_type)
  return type(content_type) == "string" and content_type:lower():find("^application/grpc") ~= nil
end

-- Triton's HTTP/REST (KServe v2) inference endpoint, with or without a version, and ignoring
-- any query string.
local function is_http_infer(path)
  local bare = path:match("^[^?]*")
  return bare:find("^/v2/models/[^/]+/infer$") ~= nil
    or bare:find("^/v2/models/[^/]+/versions/[^/]+/infer$") ~= nil
end

local function refuse(handle, config, grpc, message)
  handle:logDebug(LOG_PREFIX .. "refused: " .. message)
  if grpc then
    -- A trailers-only gRPC answer: HTTP 200 with the status in the headers and END_STREAM on
    -- them. The body must be nil, not "": Envoy versions whose respond() encodes the headers
    -- itself send a "" body as an empty DATA frame, and gRPC clients then see a stream that
    -- ended without trailers (INTERNAL) instead of grpc-status 8. Envoy versions whose
    -- respond() goes through sendLocalReply treat nil and "" alike.
    handle:respond({
      [":status"] = "200",
      ["content-type"] = "application/grpc",
      ["grpc-status"] = "8", -- RESOURCE_EXHAUSTED
      ["grpc-message"] = header_safe(message, 500),
    }, nil)
  else
    handle:respond({
      [":status"] = "429",
      ["retry-after"] = tostring(math.ceil(config.refresh_seconds)),
      ["content-type"] = "text/plain",
    }, message .. "\n")
  end
end

local function shed(handle, config, path, grpc)
  local inference = (grpc and GRPC_INFER_PATHS[path]) or (not grpc and is_http_infer(path))
  if not inference then return end
  local overloaded, message = is_overloaded(current_load(handle, config), config)
  if overloaded then refuse(handle, config, grpc, message) end
end

local function signal(handle, config, path, grpc)
  if not grpc or path ~= GRPC_REPOSITORY_INDEX_PATH then return end
  local overloaded, message = is_overloaded(current_load(handle, config), config)
  if overloaded then
    handle:logDebug(LOG_PREFIX .. "marking RepositoryIndex: " .. message)
    handle:streamInfo():dynamicMetadata():set(FILTER_NAME, "overloaded", true)
  end
end

function envoy_on_request(handle)
  local config, problem = load_config(handle)
  if config == nil then
    log_problem_once(handle, problem)
    return
  end
  local headers = handle:headers()
  local path = headers:get(":path") or ""
  local grpc = is_grpc(headers:get("content-type"))
  if config.mode == "shed" then
    shed(handle, config, path, grpc)
  else
    signal(handle, config, path, grpc)
  end
end

-- Signal mode only: a marked RepositoryIndex answer loses its body and says grpc-status 1,
-- as SuperSONIC 0.3.1 did. Every other response passes untouched, without buffering.
function envoy_on_response(handle)
  local marks = handle:streamInfo():dynamicMetadata():get(FILTER_NAME)
  if marks == nil or marks.overloaded ~= true then return end
  -- The headers are still ours: the script runs before they go to the next filter.
  handle:headers():replace("grpc-status", "1")
  -- body() waits for the whole body; it is nil for a headers-only answer. setBytes also
  -- updates content-length.
  local body = handle:body()
  if body ~= nil then body:setBytes("") end
end
