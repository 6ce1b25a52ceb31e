-- A shop's phone line: a greeting, a menu (keys or words), the opening hours, a transfer to
-- the shop floor, and voicemail that reaches the owner by text even when the caller hangs
-- up mid-message. Try it in the console:
--
--   build/rivulet run flows/phone_menu.lua --trigger incomingCall
--
-- or behind rivulet serve, with a Twilio number's "A call comes in" webhook pointed at it
-- (README, "Phone calls"). Its conversation spec: flows/specs/phone_menu_spec.lua.
return {
  description = "Phone menu",
  { name = "Trigger", type = "trigger", on = { incomingCall = "welcome" } },
  { name = "welcome", type = "say-play", say = "Thanks for calling Corner Books.", voice = "Polly.Amy",
    language = "en-GB", on = { audioComplete = "menu" } },
  { name = "menu", type = "gather-input-on-call", timeout = 5, number_of_digits = 1, speech_timeout = "auto",
    say = "Press 1 or say hours for our opening hours. Press 2 to talk to us. Press 3 to leave a message.",
    voice = "Polly.Amy", language = "en-GB", hints = "hours, talk, message",
    on = { keypress = "by_key", speech = "by_word", timeout = "goodbye" } },
  { name = "by_key", type = "split-based-on", input = "{{widgets.menu.Digits}}",
    match = { { type = "equal_to", value = "1", next = "hours" },
              { type = "equal_to", value = "2", next = "shop_floor" },
              { type = "equal_to", value = "3", next = "voicemail" } },
    on = { noMatch = "menu" } },
  { name = "by_word", type = "split-based-on", input = "{{widgets.menu.SpeechResult}}",
    match = { { type = "contains", value = "hour", next = "hours" },
              { type = "contains", value = "talk", next = "shop_floor" },
              { type = "contains", value = "message", next = "voicemail" } },
    on = { noMatch = "menu" } },
  { name = "hours", type = "say-play", say = "We are open nine to six, Monday to Saturday.", voice = "Polly.Amy",
    language = "en-GB", on = { audioComplete = "goodbye" } },
  { name = "shop_floor", type = "connect-call-to", noun = "number", to = "+15550002222", timeout = 20,
    caller_id = "{{flow.channel.address}}", on = { callCompleted = "after_call", hangup = false } },
  { name = "after_call", type = "split-based-on", input = "{{widgets.shop_floor.DialCallStatus}}",
    match = { { type = "equal_to", value = "completed", next = "goodbye" } },
    on = { noMatch = "voicemail" } },
  { name = "voicemail", type = "record-voicemail", max_length = 120, transcribe = true, play_beep = "true",
    on = { recordingComplete = "tell_owner", noAudio = "goodbye", hangup = "tell_owner" } },
  { name = "tell_owner", type = "send-message", to = "+15550002222",
    body = "Voicemail from {{contact.channel.address}}: {{widgets.voicemail.RecordingUrl}} " ..
           "{{widgets.voicemail.TranscriptionText}}",
    on = { sent = "goodbye", failed = "goodbye" } },
  { name = "goodbye", type = "say-play", say = "Goodbye.", voice = "Polly.Amy", language = "en-GB",
    on = { audioComplete = false } },
}
