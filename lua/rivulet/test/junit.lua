-- rivulet.test.junit: the results of `rivulet test` as JUnit XML (`--junit FILE`), one
-- testsuite per spec file, one testcase per case; a spec that cannot be read is one case
-- with an error.

local text = require "rivulet.test.text"

local ipairs, tostring = ipairs, tostring
local format, sub, gsub = string.format, string.sub, string.gsub
local concat = table.concat
local lines_of, format_failure = text.lines_of, text.format_failure

local M = {}

-- invalid UTF-8 and the characters XML 1.0 forbids become U+FFFD; markup is escaped
local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                  ["'"] = "&apos;", ["\n"] = "&#10;", ["\r"] = "&#13;", ["\t"] = "&#9;" }
local function xml(s, attribute)
  s = tostring(s)
  local out, i = {}, 1
  while true do
    local n, bad = utf8.len(s, i)
    if n then out[#out + 1] = sub(s, i) break end
    out[#out + 1] = sub(s, i, bad - 1) .. "\239\191\189"
    i = bad + 1
  end
  s = gsub(concat(out), "[%z\1-\8\11\12\14-\31]", "\239\191\189")
  return (gsub(s, attribute and "[&<>\"'\n\r\t]" or "[&<>]", XML_ESC))
end
M.xml_escape = xml

-- runs = list of {name = spec file, results = run()'s results | error = message}
function M.junit(runs)
  local tests, failures, errors, skipped, time = 0, 0, 0, 0, 0
  local suites = {}
  for _, run in ipairs(runs) do
    local name = tostring(run.name)
    local class = gsub(gsub(name, "%.lua$", ""), "[/\\]", ".")
    local body, st = {}, { tests = 0, failures = 0, errors = 0, skipped = 0, time = 0 }
    if run.error then
      st.tests, st.errors = 1, 1
      body[#body + 1] = format('    <testcase classname="%s" name="(spec)" time="0">',
        xml(class, true))
      body[#body + 1] = format('      <error message="%s" type="unreadable">%s</error>',
        xml(lines_of(run.error)[1], true), xml(run.error))
      body[#body + 1] = "    </testcase>"
    else
      for _, c in ipairs(run.results.cases) do
        st.tests = st.tests + 1
        st.time = st.time + (c.time or 0)
        local open_tag = format('    <testcase classname="%s" name="%s" time="%.3f"',
          xml(class, true), xml(c.name, true), c.time or 0)
        if c.skipped then
          st.skipped = st.skipped + 1
          body[#body + 1] = open_tag .. ">"
          body[#body + 1] = format('      <skipped message="%s"/>', xml(c.message or "", true))
          body[#body + 1] = "    </testcase>"
        elseif c.ok then
          body[#body + 1] = open_tag .. "/>"
        else
          local tag = c.unreadable and "error" or "failure"
          if c.unreadable then st.errors = st.errors + 1 else st.failures = st.failures + 1 end
          local first = c.failure and (c.failure.where .. ": " .. c.failure.what) or c.message
          body[#body + 1] = open_tag .. ">"
          body[#body + 1] = format('      <%s message="%s" type="%s">%s</%s>', tag,
            xml(lines_of(first)[1], true), c.unreadable and "unreadable" or "expectation",
            xml(format_failure(c)), tag)
          body[#body + 1] = "    </testcase>"
        end
      end
    end
    tests, failures, errors = tests + st.tests, failures + st.failures, errors + st.errors
    skipped, time = skipped + st.skipped, time + st.time
    suites[#suites + 1] = format('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" ' ..
      'skipped="%d" time="%.3f">', xml(name, true), st.tests, st.failures, st.errors, st.skipped,
      st.time)
    for _, l in ipairs(body) do suites[#suites + 1] = l end
    suites[#suites + 1] = "  </testsuite>"
  end
  local out = { '<?xml version="1.0" encoding="UTF-8"?>',
    format('<testsuites name="rivulet test" tests="%d" failures="%d" errors="%d" skipped="%d" ' ..
      'time="%.3f">', tests, failures, errors, skipped, time) }
  for _, l in ipairs(suites) do out[#out + 1] = l end
  out[#out + 1] = "</testsuites>"
  return concat(out, "\n") .. "\n"
end

return M
