-- The HTTP server layer (src/server.c through rivulet.core.server_listen): a server in this
-- process on 127.0.0.1 port 0, clients on raw non-blocking sockets (LuaSocket) driven by the
-- same loop, so both sides run on one thread and nothing waits on the other. Every limit is
-- tried at its edge; the time limits run with small values (the code path is the one the
-- defaults take) and are checked against their budget plus MARGIN_MS, never for speed.
local lu = require "luaunit"
local socket = require "socket"
local core = require "rivulet.core"
local helper = require "spec.helper"

local MARGIN_MS = 1500      -- scheduling slack on a loaded 2-CPU machine (ASan, valgrind)
local BUDGET_MS = 5000      -- how long a step may take before the test gives up

local function now_ms() return core.monotonic() * 1000 end

-- ---- clients: raw sockets, non-blocking once connected

local Client = {}
Client.__index = Client

local function connect(port, host)
   local s = assert(host and host:find(":") and socket.tcp6() or socket.tcp())
   s:settimeout(2)
   local ok, err = s:connect(host or "127.0.0.1", port)
   if not ok then s:close() return nil, err end
   s:settimeout(0)
   return setmetatable({ sock = s, out = "", inbuf = "", closed = false }, Client)
end

function Client:send(data)
   self.out = self.out .. data
   self:pump()
end

-- moves bytes both ways without waiting; notes the server closing the connection
function Client:pump()
   if self.closed then return end
   while #self.out > 0 do
      local n, err, last = self.sock:send(self.out)
      n = n or last or 0
      self.out = self.out:sub(n + 1)
      if err == "closed" then self.closed = true return end
      if err then break end
   end
   while true do
      local data, err, partial = self.sock:receive(65536)
      data = data or partial
      if data and #data > 0 then self.inbuf = self.inbuf .. data end
      if err == "closed" then self.closed = true return end
      if err then return end
   end
end

function Client:close()
   self.sock:close()
   self.closed = true
end

-- The first complete response in the client's buffer, taken out of it: {status, headers
-- (lower-case names), body}, or nil while incomplete. head: the request was HEAD (no body).
function Client:response(head)
   local buf = self.inbuf
   local hend = buf:find("\r\n\r\n", 1, true)
   if not hend then return nil end
   local status = tonumber(buf:match("^HTTP/1%.%d (%d%d%d)"))
   local headers = {}
   for name, value in buf:sub(1, hend):gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do
      headers[name:lower()] = value
   end
   local len = head and 0 or tonumber(headers["content-length"] or 0)
   if #buf < hend + 3 + len then return nil end
   self.inbuf = buf:sub(hend + 4 + len)
   return { status = status, headers = headers, body = buf:sub(hend + 4, hend + 3 + len) }
end

-- ---- the loop: server and clients, until cond() holds

local function loop(srv, clients, cond, budget_ms)
   local deadline = now_ms() + (budget_ms or BUDGET_MS)
   repeat
      srv:run()
      for _, c in ipairs(clients) do c:pump() end
      if cond() then return true end
      local t = srv:timeout()
      if t < 0 or t > 10 then t = 10 end
      core.wait_fds({ srv:fd() }, t)
   until now_ms() > deadline
   return false
end

-- the next request, running the loop until one comes
local function take(srv, clients, budget_ms)
   local r
   loop(srv, clients, function() r = srv:next() return r ~= nil end, budget_ms)
   return r
end

-- c's next response, running the loop until it is complete
local function answer_of(srv, c, head, budget_ms)
   local resp
   loop(srv, { c }, function()
      resp = c:response(head)
      return resp ~= nil
   end, budget_ms)
   return resp
end

local function header(r, name)
   for _, h in ipairs(r.headers) do
      if h[1]:lower() == name:lower() then return h[2] end
   end
end

local function get(path, extra)
   return "GET " .. path .. " HTTP/1.1\r\nHost: test\r\n" .. (extra or "") .. "\r\n"
end

local function post(path, body, extra)
   return "POST " .. path .. " HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      .. "Content-Length: " .. #body .. "\r\n" .. (extra or "") .. "\r\n" .. body
end

local function listen(opts)
   local srv, err = core.server_listen("127.0.0.1", 0, opts)
   lu.assertNotNil(srv, err)
   return srv
end

TestServer = {}

function TestServer:tearDown()
   if self.srv then self.srv:close() end
   for _, c in ipairs(self.clients or {}) do c:close() end
   self.srv, self.clients = nil, nil
end

function TestServer:start(opts)
   self.srv = listen(opts)
   self.clients = {}
   return self.srv
end

function TestServer:client()
   self.srv:run()                  -- accept what waits, so the backlog never fills up
   local c = assert(connect(self.srv:port()))
   self.clients[#self.clients + 1] = c
   return c
end

function TestServer:test_listen_reports_its_port_and_descriptor()
   local srv = self:start()
   lu.assertTrue(srv:port() > 0 and srv:port() < 65536)
   lu.assertEquals(math.type(srv:fd()), "integer")
   lu.assertEquals(srv:timeout(), -1)          -- nothing open, nothing due
   lu.assertNil(srv:next())
   lu.assertEquals(srv:dropped(), {})
   lu.assertEquals(srv:stats(), { connections = 0, busy = 0, sending = 0 })
end

function TestServer:test_get_answered_at_once()
   local srv = self:start()
   local c = self:client()
   c:send("GET /v2/Flows/FW1%2F?PageSize=2&x=%20 HTTP/1.1\r\nHost: test\r\nX-Twilio-Signature: abc\r\n"
      .. "x-dup: 1\r\nX-Dup: 2\r\n\r\n")
   local r = take(srv, { c })
   lu.assertNotNil(r, "the request reaches the caller")
   lu.assertEquals(math.type(r.id), "integer")
   lu.assertEquals(r.method, "GET")
   lu.assertEquals(r.path, "/v2/Flows/FW1%2F")      -- as sent, not decoded
   lu.assertEquals(r.query, "PageSize=2&x=%20")
   lu.assertEquals(r.version, "HTTP/1.1")
   lu.assertEquals(r.body, "")
   lu.assertEquals(r.peer, "127.0.0.1")
   local _, cport = c.sock:getsockname()
   lu.assertEquals(r.peer_port, tonumber(cport))
   lu.assertEquals(r.headers, { { "Host", "test" }, { "X-Twilio-Signature", "abc" }, { "x-dup", "1" },
      { "X-Dup", "2" } })
   -- indexed by lower-case name, the first of a name winning (rivulet.serve.request.header)
   lu.assertEquals(r.header_map, { host = "test", ["x-twilio-signature"] = "abc", ["x-dup"] = "1" })
   lu.assertTrue(srv:respond(r.id, 200, { { "Content-Type", "application/json" }, { "X-A", "1" } },
      '{"ok":true}'))
   local resp = answer_of(srv, c)
   lu.assertEquals(resp.status, 200)
   lu.assertEquals(resp.headers["content-type"], "application/json")
   lu.assertEquals(resp.headers["x-a"], "1")
   lu.assertEquals(resp.body, '{"ok":true}')
   lu.assertFalse(srv:respond(r.id, 200), "a second answer is refused, not raised")
end

-- A loop that sleeps as long as timeout() says must not sleep on a request already read:
-- no descriptor will wake it for that (rivulet serve answered a request seconds late when
-- its last run of an iteration had read it).
function TestServer:test_a_request_waiting_to_be_taken_means_no_sleep()
   local srv = self:start()
   local c = self:client()
   c:send(get("/x"))
   lu.assertTrue(loop(srv, { c }, function() return srv:run() > 0 end), "the request is read")
   lu.assertEquals(srv:timeout(), 0, "one waits to be taken")
   local r = srv:next()
   lu.assertNotNil(r)
   lu.assertTrue(srv:timeout() ~= 0, "none waits any more")
   srv:respond(r.id, 204)
end

function TestServer:test_post_body_and_a_request_without_query()
   local srv = self:start()
   local c = self:client()
   c:send(post("/v1/Accounts/AC1/Flows/FW1", "From=%2B1555&Body=hi+there"))
   local r = take(srv, { c })
   lu.assertEquals(r.method, "POST")
   lu.assertEquals(r.path, "/v1/Accounts/AC1/Flows/FW1")
   lu.assertNil(r.query)
   lu.assertEquals(r.body, "From=%2B1555&Body=hi+there")
   lu.assertEquals(header(r, "content-type"), "application/x-www-form-urlencoded")
   lu.assertTrue(srv:respond(r.id, 201, { ["Content-Type"] = "text/xml" }, "<Response/>"))
   local resp = answer_of(srv, c)
   lu.assertEquals(resp.status, 201)
   lu.assertEquals(resp.headers["content-type"], "text/xml")
   lu.assertEquals(resp.body, "<Response/>")
end

-- A request can wait while later ones are answered: nothing is answered in arrival order.
function TestServer:test_answered_late_after_others()
   local srv = self:start()
   local a, b, c = self:client(), self:client(), self:client()
   a:send(get("/a"))
   local ra = take(srv, { a })
   b:send(get("/b"))
   local rb = take(srv, { b })
   c:send(get("/c"))
   local rc = take(srv, { c })
   lu.assertEquals({ ra.path, rb.path, rc.path }, { "/a", "/b", "/c" })
   srv:respond(rc.id, 200, nil, "C")
   lu.assertEquals(answer_of(srv, c).body, "C")
   srv:respond(rb.id, 200, nil, "B")
   lu.assertEquals(answer_of(srv, b).body, "B")
   lu.assertEquals(a.inbuf, "", "the first request still waits")
   lu.assertTrue(loop(srv, {}, function() return srv:stats().busy == 1 end), "one request in flight")
   srv:respond(ra.id, 200, nil, "A")
   lu.assertEquals(answer_of(srv, a).body, "A")
end

function TestServer:test_many_concurrent_connections()
   local N = 200
   local srv = self:start()
   local cs = {}
   for i = 1, N do
      cs[i] = self:client()
      cs[i]:send(get("/n/" .. i))
   end
   local got = {}
   lu.assertTrue(loop(srv, cs, function()
      local r = srv:next()
      while r do
         got[#got + 1] = r
         r = srv:next()
      end
      return #got == N
   end), "all requests arrive: " .. #got)
   lu.assertEquals(srv:stats().connections, N)
   for i = #got, 1, -1 do               -- answered in reverse, each with its own path
      srv:respond(got[i].id, 200, nil, got[i].path)
   end
   local done = 0
   lu.assertTrue(loop(srv, cs, function()
      for i, c in ipairs(cs) do
         local resp = c:response()
         if resp then
            lu.assertEquals(resp.body, "/n/" .. i)
            done = done + 1
         end
      end
      return done == N
   end), "all answered: " .. done)
end

function TestServer:test_keep_alive_and_pipelining()
   local srv = self:start()
   local c = self:client()
   c:send(get("/one"))
   local r1 = take(srv, { c })
   srv:respond(r1.id, 200, nil, "1")
   lu.assertEquals(answer_of(srv, c).body, "1")
   c:send(get("/two") .. get("/three"))        -- the same connection, two at once
   local r2 = take(srv, { c })
   lu.assertEquals(r2.path, "/two")
   lu.assertEquals(r2.peer_port, r1.peer_port, "same connection")
   lu.assertNil(srv:next(), "the pipelined request waits for the answer before it")
   srv:respond(r2.id, 200, nil, "2")
   local r3 = take(srv, { c })
   lu.assertEquals(r3.path, "/three")
   srv:respond(r3.id, 200, nil, "3")
   lu.assertEquals(answer_of(srv, c).body, "2")
   lu.assertEquals(answer_of(srv, c).body, "3")
   lu.assertEquals(srv:stats().connections, 1)
   lu.assertFalse(c.closed)
end

function TestServer:test_head_gets_headers_only()
   local srv = self:start()
   local c = self:client()
   c:send("HEAD /x HTTP/1.1\r\nHost: test\r\n\r\n")
   local r = take(srv, { c })
   lu.assertEquals(r.method, "HEAD")
   srv:respond(r.id, 200, { { "Content-Type", "text/plain" } }, "twelve bytes")
   local resp = answer_of(srv, c, true)
   lu.assertEquals(resp.status, 200)
   lu.assertEquals(resp.headers["content-length"], "12")
   c:send(get("/after"))                        -- no body bytes were sent: the next parses
   local r2 = take(srv, { c })
   lu.assertEquals(r2.path, "/after")
   srv:respond(r2.id, 204)
   lu.assertEquals(answer_of(srv, c).status, 204)
end

function TestServer:test_malformed_requests_never_reach_the_caller()
   local srv = self:start()
   local bad = { "GET / HTTP/1.x\r\n\r\n", "GET / FOO/1.1\r\n\r\n",
                 "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                 "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: zz\r\n\r\n",
                 -- what libmicrohttpd lets through, refused by server.c: not a token, a space
                 "G@T / HTTP/1.1\r\nHost: t\r\n\r\n", "GET\1 / HTTP/1.1\r\nHost: t\r\n\r\n",
                 "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", "GET /a\1b HTTP/1.1\r\nHost: t\r\n\r\n",
                 "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n" }
   for _, req in ipairs(bad) do
      local c = self:client()
      c:send(req)
      local resp = answer_of(srv, c)
      lu.assertNotNil(resp, "answered: " .. req)
      lu.assertEquals(resp.status, 400, req)
      lu.assertNil(srv:next(), req)
   end
   local c = self:client()                      -- a request line without a space: closed
   c:send("GARBAGE\r\n\r\n")
   lu.assertTrue(loop(srv, { c }, function() return c.closed end))
   lu.assertNil(srv:next())
   lu.assertEquals(srv:stats().busy, 0)
end

-- ---- limits

function TestServer:test_body_limit_edge_with_content_length()
   local srv = self:start()
   local max = core.SERVER_MAX_BODY
   local a = self:client()
   a:send(post("/flows", string.rep("x", max)))
   local r = take(srv, { a })
   lu.assertNotNil(r, "exactly the limit is taken")
   lu.assertEquals(#r.body, max)
   srv:respond(r.id, 200)
   lu.assertEquals(answer_of(srv, a).status, 200)
   local b = self:client()
   b:send(post("/flows", string.rep("x", max + 1)))
   local resp = answer_of(srv, b)
   lu.assertEquals(resp.status, 413)
   lu.assertNil(srv:next())
   lu.assertTrue(loop(srv, { b }, function() return b.closed end), "closed after the refusal")
end

function TestServer:test_body_limit_edge_chunked()
   local srv = self:start({ max_body = 1000 })
   local function chunked(n)
      local body = string.rep("y", n)
      local out = {}
      for i = 1, n, 300 do
         local part = body:sub(i, i + 299)
         out[#out + 1] = string.format("%x\r\n%s\r\n", #part, part)
      end
      return "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         .. table.concat(out) .. "0\r\n\r\n"
   end
   local a = self:client()
   a:send(chunked(1000))
   local r = take(srv, { a })
   lu.assertEquals(#r.body, 1000)
   srv:respond(r.id, 200)
   lu.assertEquals(answer_of(srv, a).status, 200)
   local b = self:client()
   b:send(chunked(1001))
   lu.assertEquals(answer_of(srv, b).status, 413)
   lu.assertNil(srv:next())
end

-- a header name longer than the C side's stack buffer (64 bytes) is lowered all the same
function TestServer:test_header_map_long_name()
   local srv = self:start()
   local c = self:client()
   local name = "X-" .. string.rep("LoNg", 40)
   c:send("GET / HTTP/1.1\r\nHost: t\r\n" .. name .. ": v1\r\n" .. name:upper() .. ": v2\r\n\r\n")
   local r = take(srv, { c })
   lu.assertNotNil(r)
   lu.assertEquals(r.header_map, { host = "t", [name:lower()] = "v1" })
   srv:respond(r.id, 200)
   lu.assertEquals(answer_of(srv, c).status, 200)
end

function TestServer:test_header_bytes_edge()
   local srv = self:start()
   local max = core.SERVER_MAX_HEADER_BYTES
   local function request(total)
      local bare = "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: \r\n\r\n"
      return "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: " .. string.rep("p", total - #bare) .. "\r\n\r\n"
   end
   lu.assertEquals(#request(max), max)
   local a = self:client()
   a:send(request(max))
   local r = take(srv, { a })
   lu.assertNotNil(r, "exactly the limit is taken")
   lu.assertEquals(#header(r, "X-Pad"), max - #"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: \r\n\r\n")
   srv:respond(r.id, 200)
   lu.assertEquals(answer_of(srv, a).status, 200)
   local b = self:client()
   b:send(request(max + 1))
   lu.assertEquals(answer_of(srv, b).status, 431)
   -- a flood of tiny headers under the byte limit fills libmicrohttpd's memory first
   local c = self:client()
   c:send("GET / HTTP/1.1\r\n" .. string.rep("a:b\r\n", 1500) .. "\r\n")
   lu.assertEquals(answer_of(srv, c).status, 431)
   -- far over: libmicrohttpd's own cut, before the headers end
   local d = self:client()
   d:send("GET / HTTP/1.1\r\nX-Big: " .. string.rep("z", 8 * max))
   lu.assertEquals(answer_of(srv, d).status, 431)
   lu.assertNil(srv:next())
end

function TestServer:test_pending_limit_edge()
   local srv = self:start({ max_pending = 3 })
   local cs, rs = {}, {}
   for i = 1, 3 do
      cs[i] = self:client()
      cs[i]:send(get("/p" .. i))
      rs[i] = take(srv, { cs[i] })
      lu.assertNotNil(rs[i], "request " .. i .. " of 3 waits")
   end
   local over = self:client()
   over:send(get("/p4"))
   local resp = answer_of(srv, over)
   lu.assertEquals(resp.status, 503)
   lu.assertEquals(resp.headers["retry-after"], "1")
   lu.assertNil(srv:next())
   srv:respond(rs[1].id, 200)                  -- a slot frees: the next one is taken
   local again = self:client()
   again:send(get("/p5"))
   local r5 = take(srv, { again, cs[1] })
   lu.assertEquals(r5.path, "/p5")
end

function TestServer:test_answer_timeout()
   local T = 300
   local srv = self:start({ answer_timeout_ms = T })
   local c = self:client()
   local t0 = now_ms()                          -- before the request: its clock starts later
   c:send(get("/slow"))
   local r = take(srv, { c })
   local resp = answer_of(srv, c, false, T + MARGIN_MS + 1000)
   local took = now_ms() - t0
   lu.assertEquals(resp.status, 503)
   lu.assertTrue(took >= T and took <= T + MARGIN_MS, "503 after " .. took .. " ms")
   lu.assertEquals(srv:dropped(), { r.id })
   lu.assertFalse(srv:respond(r.id, 200), "too late: refused, harmless")
   lu.assertEquals(srv:dropped(), {}, "reported once")
end

function TestServer:test_client_gone_before_the_answer()
   local srv = self:start()
   local c = self:client()
   c:send(get("/voice"))
   local r = take(srv, { c })
   c:close()
   local gone
   lu.assertTrue(loop(srv, {}, function()
      gone = srv:dropped()
      return #gone > 0
   end), "the departure is noticed")
   lu.assertEquals(gone, { r.id })
   lu.assertFalse(srv:respond(r.id, 200, nil, "late"))
   lu.assertTrue(loop(srv, {}, function() return srv:stats().connections == 0 end))
   lu.assertEquals(srv:stats().busy, 0)
   -- a request still queued (not taken) whose client leaves is simply forgotten
   local d = self:client()
   d:send(get("/never-taken"))
   lu.assertTrue(loop(srv, { d }, function() return srv:stats().busy == 1 end), "it is queued")
   d:close()
   lu.assertTrue(loop(srv, {}, function() return srv:stats().busy == 0 end))
   lu.assertNil(srv:next())
   lu.assertEquals(srv:dropped(), {})
   local e = self:client()                      -- and the server goes on
   e:send(get("/ok"))
   local r2 = take(srv, { e })
   srv:respond(r2.id, 200, nil, "fine")
   lu.assertEquals(answer_of(srv, e).body, "fine")
end

-- A client dripping its headers one byte per 100 ms keeps the idle timer happy; the request
-- timeout cuts it, while another client is served meanwhile.
function TestServer:test_slow_loris_is_cut_at_the_request_timeout()
   local T = 1000
   local srv = self:start({ request_timeout_ms = T })
   local slow = self:client()
   local t0 = now_ms()
   local text = get("/slow-loris", string.rep("X-Drip: 1\r\n", 20))
   local sent, served, next_drip = 0, 0, t0
   local fast = self:client()
   local ok = loop(srv, { slow, fast }, function()
      if now_ms() >= next_drip and sent < #text and not slow.closed then
         sent = sent + 1
         slow:send(text:sub(sent, sent))
         next_drip = next_drip + 100
      end
      local r = srv:next()
      if r then
         lu.assertNotEquals(r.path, "/slow-loris")
         srv:respond(r.id, 200, nil, "ok")
      end
      if fast:response() then
         served = served + 1
         fast.waiting = false
      end
      if not fast.waiting then
         fast:send(get("/fast"))
         fast.waiting = true
      end
      return slow.closed
   end, T + MARGIN_MS + 2000)
   local took = now_ms() - t0
   lu.assertTrue(ok, "the slow client was cut")
   lu.assertTrue(took >= T and took <= T + MARGIN_MS, "cut after " .. took .. " ms")
   lu.assertTrue(sent < #text, "it had not finished its request")
   lu.assertTrue(served >= 3, "others were served meanwhile: " .. served)
   lu.assertTrue(loop(srv, {}, function() return srv:stats().connections == 1 end))
end

function TestServer:test_idle_connection_closed_at_the_idle_timeout()
   local srv = self:start({ idle_timeout_s = 1, request_timeout_ms = 0 })
   local c = self:client()
   c:send(get("/x"))
   local r = take(srv, { c })
   srv:respond(r.id, 200)
   answer_of(srv, c)
   local t0 = now_ms()
   lu.assertTrue(loop(srv, { c }, function() return c.closed end, 1000 + MARGIN_MS + 1000))
   local took = now_ms() - t0
   lu.assertTrue(took >= 900 and took <= 1000 + MARGIN_MS, "closed after " .. took .. " ms")
end

-- At the limit the listening socket rests: a new client waits in the backlog (not refused)
-- until a slot frees.
function TestServer:test_connection_limit_edge()
   local srv = self:start({ max_connections = 4 })
   local cs = {}
   for i = 1, 4 do
      cs[i] = self:client()
      cs[i]:send(get("/c" .. i))
      local r = take(srv, { cs[i] })
      lu.assertNotNil(r, "connection " .. i .. " of 4 is served")
      srv:respond(r.id, 200)
      answer_of(srv, cs[i])
   end
   lu.assertEquals(srv:stats().connections, 4)
   local fifth = self:client()
   fifth:send(get("/fifth"))
   lu.assertFalse(loop(srv, { fifth }, function() return srv:stats().connections > 4 end, 300),
      "the fifth is not accepted")
   lu.assertNil(srv:next())
   cs[1]:close()
   local r = take(srv, { fifth })
   lu.assertNotNil(r, "once a slot frees, the fifth is served")
   lu.assertEquals(r.path, "/fifth")
end

function TestServer:test_per_address_limit_edge()
   local srv = self:start({ max_per_ip = 3 })
   local cs = {}
   for i = 1, 3 do
      cs[i] = self:client()
      cs[i]:send(get("/ip" .. i))
      local r = take(srv, { cs[i] })
      lu.assertNotNil(r, "connection " .. i .. " of 3 from one address is served")
   end
   local fourth = self:client()
   fourth:send(get("/ip4"))
   lu.assertTrue(loop(srv, { fourth }, function() return fourth.closed end), "the fourth is closed")
   lu.assertEquals(fourth.inbuf, "")
   lu.assertNil(srv:next())
end

function TestServer:test_shutdown_stops_accepting_and_drains()
   local srv = self:start()
   local c = self:client()
   c:send(get("/in-flight"))
   local r = take(srv, { c })
   srv:shutdown()
   lu.assertNil(connect(srv:port()), "no new connection after shutdown")
   srv:respond(r.id, 200, nil, "last")
   local resp = answer_of(srv, c)
   lu.assertEquals(resp.body, "last")
   lu.assertEquals(resp.headers["connection"], "close")
   lu.assertTrue(loop(srv, { c }, function() return c.closed end))
end

function TestServer:test_close_drains_answered_and_cuts_the_rest()
   local srv = self:start()
   local a, b = self:client(), self:client()
   a:send(get("/answered"))
   local ra = take(srv, { a })
   b:send(get("/unanswered"))
   take(srv, { b })
   srv:respond(ra.id, 200, nil, string.rep("d", 100000))
   srv:close(2000)
   self.srv = nil
   local deadline = now_ms() + BUDGET_MS
   repeat a:pump() b:pump() socket.sleep(0.01) until (a.closed and b.closed) or now_ms() > deadline
   local resp = a:response()
   lu.assertNotNil(resp, "the answered response was sent whole")
   lu.assertEquals(#resp.body, 100000)
   lu.assertTrue(b.closed)
   lu.assertEquals(b.inbuf, "")
   lu.assertErrorMsgContains("closed HTTP server", function() srv:run() end)
   srv:close()                                   -- idempotent
end

function TestServer:test_misuse_raises_outside_failures_return_nil()
   local srv = self:start()
   local c = self:client()
   c:send(get("/m"))
   local r = take(srv, { c })
   lu.assertErrorMsgContains("200 to 999", function() srv:respond(r.id, 99) end)
   lu.assertErrorMsgContains("cannot be sent", function() srv:respond(r.id, 200, { { "X-A", "a\r\nb" } }) end)
   lu.assertErrorMsgContains("cannot be sent", function() srv:respond(r.id, 200, { { "Bad Name", "v" } }) end)
   lu.assertErrorMsgContains("cannot be sent", function() srv:respond(r.id, 200, { ["Content-Length"] = "3" }) end)
   lu.assertErrorMsgContains("pair", function() srv:respond(r.id, 200, { "X-A: 1" }) end)
   local many = {}
   for i = 1, core.SERVER_MAX_RESPONSE_HEADERS + 1 do many[i] = { "X-H" .. i, "v" } end
   lu.assertErrorMsgContains("at most", function() srv:respond(r.id, 200, many) end)
   lu.assertTrue(srv:respond(r.id, 200, { table.unpack(many, 1, core.SERVER_MAX_RESPONSE_HEADERS) }),
      "the request still waits after refused answers; the limit itself passes")
   local resp = answer_of(srv, c)
   lu.assertEquals(resp.headers["x-h64"], "v")
   lu.assertFalse(srv:respond(424242, 200), "an unknown id is not an error")
   lu.assertErrorMsgContains("port out of range", function() core.server_listen("127.0.0.1", 70000) end)
   lu.assertErrorMsgContains("must be an integer", function() core.server_listen("127.0.0.1", 0, { max_body = "x" }) end)
   lu.assertErrorMsgContains("'max_connections' must be between 1 and 1000000",
      function() core.server_listen("127.0.0.1", 0, { max_connections = 0 }) end)
   local none, err = core.server_listen("localhost", 0)
   lu.assertNil(none)
   lu.assertStrContains(err, "not a numeric")
   none, err = core.server_listen("127.0.0.1", srv:port())
   lu.assertNil(none)
   lu.assertStrContains(err, "cannot listen")
end

function TestServer:test_ipv6_loopback()
   local srv, err = core.server_listen("[::1]", 0)
   if not srv then lu.skip("no IPv6 loopback here: " .. tostring(err)) end
   self.srv, self.clients = srv, {}
   local c = assert(connect(srv:port(), "::1"))
   self.clients[1] = c
   c:send(get("/six"))
   local r = take(srv, { c })
   lu.assertEquals(r.peer, "::1")
   srv:respond(r.id, 200, nil, "v6")
   lu.assertEquals(answer_of(srv, c).body, "v6")
end

-- A real client (the curl command, a child process) at the body limit: curl announces the
-- large body with Expect: 100-continue, and the refusal comes before it is sent.
function TestServer:test_curl_at_the_body_limit()
   local srv = self:start()
   local dir = helper.tmpdir()
   local max = core.SERVER_MAX_BODY
   helper.write_file(dir .. "/at", string.rep("a", max))
   helper.write_file(dir .. "/over", string.rep("a", max + 1))
   local base = "http://127.0.0.1:" .. srv:port() .. "/flows"
   local p = io.popen("curl -s -o /dev/null -w '%{http_code} ' --data-binary @" .. dir .. "/at " .. base
      .. " --next -s -o /dev/null -w '%{http_code}' --data-binary @" .. dir .. "/over " .. base
      .. "; touch " .. dir .. "/done", "r")
   local r
   lu.assertTrue(loop(srv, {}, function()
      local n = srv:next()
      if n then r = n srv:respond(n.id, 200) end
      return helper.read_file(dir .. "/done") ~= nil
   end, 20000))
   local codes = p:read("a")
   p:close()
   lu.assertEquals(codes, "200 413")
   lu.assertEquals(#r.body, max)
end

function TestServer:test_wait_fds()
   local srv = self:start()
   local t0 = now_ms()
   lu.assertEquals(core.wait_fds({ srv:fd() }, 50), {})
   lu.assertTrue(now_ms() - t0 >= 40)
   local c = self:client()
   c:send(get("/w"))
   lu.assertEquals(core.wait_fds({ srv:fd() }, BUDGET_MS), { srv:fd() })
   local client = core.http_client()
   lu.assertEquals(client:fds(), {}, "an idle HTTP client has nothing to wait on")
   lu.assertEquals(client:timeout(), -1)
   client:start { url = "http://127.0.0.1:" .. srv:port() .. "/from-client" }
   lu.assertEquals(#client:fds(), 1)
   local fds = { srv:fd(), client:fds()[1] }
   -- one loop for both sides: the client's call is served by this process's server
   local res
   loop(srv, { c }, function()
      core.wait_fds(fds, 10)
      client:poll(0)
      local r = srv:next()
      if r then srv:respond(r.id, 200, nil, r.path) end
      return client:running() == 0
   end)
   lu.assertEquals(client:running(), 0)
   client:close()
   res = c:response()
   lu.assertNotNil(res)
   lu.assertEquals(res.body, "/w")
   lu.assertErrorMsgContains("integers", function() core.wait_fds({ "x" }, 0) end)
end
