-- flows/phone_menu.lua as phone calls: keys and words in the menu, the transfer and what
-- the dialled party's answer decides, voicemail (and a caller who hangs up in the middle of
-- it: the owner is still told), silence, and a hang-up in the menu.
--
--   build/rivulet test flows/specs/phone_menu_spec.lua
local WELCOME = "> Thanks for calling Corner Books."
local MENU = "> Press 1 or say hours for our opening hours. Press 2 to talk to us. Press 3 to leave a message."
local RINGING = "> [connecting the call to number +15550002222]"
local GOODBYE = "> Goodbye."

return {
  flow = "../phone_menu.lua",
  trigger = { event = "incomingCall" },

  cases = {
    { name = "the opening hours, by key",
      script = { WELCOME, MENU, "< 1", "> We are open nine to six, Monday to Saturday.", GOODBYE },
      state = "goodbye", path = { "welcome", "menu", "by_key", "hours", "goodbye" } },

    { name = "the opening hours, in words",
      script = { WELCOME, MENU, "< What are your hours?", "> We are open nine to six, Monday to Saturday.", GOODBYE },
      context = { ["widgets.menu.SpeechResult"] = "What are your hours?" } },

    { name = "a key the menu does not know asks again",
      script = { WELCOME, MENU, "< 7", MENU, { hangup = true } },
      state = "menu", reason = "call ended" },

    { name = "the shop floor answers",
      script = { WELCOME, MENU, "< 2", RINGING, { event = "callCompleted" }, GOODBYE },
      context = { ["widgets.shop_floor.DialCallStatus"] = "completed" } },

    { name = "nobody on the shop floor: voicemail instead",
      script = { WELCOME, MENU, "< talk to someone", RINGING,
                 { event = "callCompleted", outputs = { DialCallStatus = "no-answer" } },
                 "< Please call me back.",
                 { expect = { match = "^Voicemail from %+15550001111: https://example%.invalid/recordings/RE%x+ " ..
                                      "Please call me back%.$" }, to = "+15550002222" },
                 GOODBYE },
      path = { "welcome", "menu", "by_word", "shop_floor", "after_call", "voicemail", "tell_owner", "goodbye" } },

    { name = "the caller hangs up while connected",
      script = { WELCOME, MENU, "< 2", RINGING, { hangup = true } },
      state = "shop_floor", reason = "'shop_floor' ended the flow on 'hangup'" },

    { name = "a hang-up in the middle of the message still reaches the owner, then nothing is said",
      script = { WELCOME, MENU, "< 3", { hangup = true },
                 { expect = "Voicemail from +15550001111:  ", to = "+15550002222" } },
      state = "goodbye", reason = "call ended",
      path = { "welcome", "menu", "by_key", "voicemail", "tell_owner", "goodbye" } },

    { name = "silence at the beep",
      script = { WELCOME, MENU, "< 3", { timeout = true }, GOODBYE },
      path = { "welcome", "menu", "by_key", "voicemail", "goodbye" } },

    { name = "silence in the menu",
      script = { WELCOME, MENU, { timeout = true }, GOODBYE },
      state = "goodbye" },
  },
}
