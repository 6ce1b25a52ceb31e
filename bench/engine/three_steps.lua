-- A three-step flow for the cold-run benchmark (bench/engine/cold.sh): set a variable from
-- the trigger, send it, end.
return {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "set" } },
  { name = "set", type = "set-variables", variables = { greeting = "Hello {{ trigger.message.Body }}" },
    on = { next = "say" } },
  { name = "say", type = "send-message", body = "{{ flow.variables.greeting }}" },
}
