-- flows/custom_logic.lua: a `lua` widget scores the reply and picks the branch (high,
-- low, unclear), with one second chance before it gives up.
--
--   build/rivulet test flows/specs/custom_logic_spec.lua --coverage
local ASK = "> How likely are you to recommend us, from 0 to 10?"
local AGAIN = "> Sorry, I need a number from 0 to 10."
local BYE = "> No worries, bye for now."

return {
  flow = "../custom_logic.lua",

  test_a_high_score_thanks = {
    script = { ASK, "< 9", "> Thank you! A 9 made our day." },
    state = "thanks", path = { "ask", "score", "thanks" },
    context = { ["widgets.score.score"] = 9 },
  },
  test_a_low_score_apologises = {
    script = { ASK, "< 3", "> Thanks for the 3. We will do better." },
    state = "sorry",
  },
  test_seven_is_high = {
    script = { ASK, "< 7", "> Thank you! A 7 made our day." },
  },
  test_the_first_number_in_the_reply_counts = {
    script = { ASK, "<  9/10, really ", "> Thank you! A 9 made our day." },
  },
  test_a_decimal_score = {
    script = { ASK, "< 6.5", "> Thanks for the 6.5. We will do better." },
    context = { ["widgets.score.score"] = 6.5 },
  },
  test_words_get_a_second_chance = {
    script = { ASK, "< meh", AGAIN, "< 8", "> Thank you! A 8 made our day." },
    path = { "ask", "score", "ask_again", "rescore", "thanks" },
    context = { ["widgets.score.reply"] = "meh", ["widgets.rescore.score"] = 8 },
  },
  test_more_than_ten_is_unclear = {
    script = { ASK, "< 11", AGAIN, "< 2", "> Thanks for the 2. We will do better." },
  },
  test_two_unclear_replies_say_bye = {
    script = { ASK, "< meh", AGAIN, "< still meh", BYE },
    state = "bye",
  },
  test_no_reply_says_bye = {
    script = { ASK, { timeout = true }, BYE },
    path = { "ask", "bye" },
  },
  test_no_second_reply_says_bye = {
    script = { ASK, "< ?", AGAIN,
               { advance = 3599 }, { state = "ask_again" }, -- a second short of the hour
               { advance = 1 }, BYE },
  },
}
