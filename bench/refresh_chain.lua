-- Each connection always has one request in flight, so a pool of exactly `connections`
-- refresh tokens suffices: take one per request, put the successor back from the response.
local tokens = {}

function init(args)
  for _, token in ipairs(args) do
    table.insert(tokens, token)
  end
end

function request()
  local token = table.remove(tokens, 1) or "exhausted"
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = body and string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if successor then
    table.insert(tokens, successor)
  end
end
