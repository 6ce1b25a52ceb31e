-- flows/feedback.lua: a rating (1 to 5, asked again up to twice), then a comment.
--
--   build/rivulet test flows/specs/feedback_spec.lua --coverage
return {
  flow = "../feedback.lua",
  live = false,

  cases = {
    { name = "a good rating and a comment",
      script = { "> Thanks for visiting! How would you rate us, 1 to 5?", "< 5",
                 "> What should we know?", "< Lovely staff",
                 "> Thank you! We read every message." },
      state = "thanks",
      context = { ["flow.variables.rating"] = 5, ["widgets.ask_comment.inbound.Body"] = "Lovely staff" } },

    { name = "a low rating gets an apology",
      script = { "> Thanks for visiting! How would you rate us, 1 to 5?", "< 2",
                 "> Sorry to hear that. What should we know?", "< Slow",
                 "> Thank you! We read every message." } },

    { name = "not a rating: asked again, then it counts",
      script = { "> Thanks for visiting! How would you rate us, 1 to 5?", "< great",
                 "> Thanks for visiting! How would you rate us, 1 to 5?", "< 4 ",
                 "> What should we know?" },
      status = "active", state = "ask_comment",
      context = { ["flow.variables.retries"] = 1, ["flow.variables.rating"] = 4 } },

    { name = "three answers that are not ratings: it gives up",
      script = { "> Thanks for visiting! How would you rate us, 1 to 5?", "< great",
                 "> Thanks for visiting! How would you rate us, 1 to 5?", "< 10",
                 "> Thanks for visiting! How would you rate us, 1 to 5?", "< ok",
                 "> No problem, maybe next time." },
      state = "give_up", context = { ["flow.variables.retries"] = 3 } },

    { name = "no answer in a day ends it quietly",
      script = { "> Thanks for visiting! How would you rate us, 1 to 5?", { timeout = true } },
      state = "ask_rating", status = "ended" },

    { name = "no comment in a day still thanks",
      script = { "> Thanks for visiting! How would you rate us, 1 to 5?", "< 3",
                 "> What should we know?", { timeout = true },
                 "> Thank you! We read every message." },
      state = "thanks" },
  },
}
