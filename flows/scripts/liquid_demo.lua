-- luacheck: no max line length
-- A Liquid demo (build/rivulet lua flows/scripts/liquid_demo.lua; a script, not a flow): a Studio-style SMS reply
-- rendered from an execution context (trigger, flow variables, a Run Function's parsed
-- reply), the way a Send Message widget's body would be.
local rivulet = require "rivulet"

local context = {
  trigger = { message = { From = "+15550001111", Body = "  roll 2 dice " } },
  flow = { variables = { count = 3, name = "Ada" }, channel = { address = "+15559990000" } },
  widgets = {
    get_num = { status_code = 200, parsed = { number = 4, rolls = { 3, 1 } } },
  },
}

local template = [[
{%- assign words = trigger.message.Body | squish | split: " " -%}
Hi {{ flow.variables.name | default: "there" }}! You asked to "{{ words | join: " " }}".
{% for r in widgets.get_num.parsed.rolls -%}
  Die {{ forloop.index }}: {{ r }}{% if r == 1 %} (snake eye){% endif %}
{% endfor -%}
Total {{ widgets.get_num.parsed.rolls | sum }}, lucky number {{ widgets.get_num.parsed.number | times: 1.5 }}.
Try {{ flow.variables.count | minus: 1 }} more time{% if flow.variables.count != 2 %}s{% endif %} before {{ 1700000000 | date: "%-I:%M %p %Z" }}.]]

local out, err = rivulet.liquid.render(template, context, { now = 1700000000 })
if not out then
  io.stderr:write("liquid_demo: ", err, "\n")
  os.exit(1)
end
print(out)

-- A template error names where it is.
local _, perr = rivulet.liquid.render("Hello {{ name | upcase ", {})
print("\nA broken template says: " .. perr)
