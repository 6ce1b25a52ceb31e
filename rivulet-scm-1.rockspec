rockspec_format = "3.0"
package = "rivulet"
version = "scm-1"
source = {
   url = "git+https://example.invalid/rivulet.git",
   branch = "main",
}
description = {
   summary = "Run Twilio-Studio-style flows locally: C core (Liquid, libcurl) with a Lua API",
   detailed = [[
rivulet runs Studio Flow JSON or Lua flow files on your machine. A small C core
(a Liquid template engine and an HTTP client over libcurl) sits under a Lua 5.4 API
(require "rivulet"); the `rivulet` command runs flows, a REPL and Lua scripts.
]],
   homepage = "https://example.invalid/rivulet",
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
   "lua-cjson >= 2.1.0",
}
-- Only the libraries are checked: on Debian, LuaRocks 3.8 does not look for headers in
-- the multiarch dir (/usr/include/x86_64-linux-gnu/curl/curl.h), and each .so checked
-- here comes with its -dev package anyway. Pass CURL_INCDIR=... to point at other curls.
external_dependencies = {
   CURL = { library = "curl" },
   CRYPTO = { library = "crypto" },
   EDIT = { library = "edit" },
   MICROHTTPD = { library = "microhttpd" },
   PCRE2 = { library = "pcre2-8" },
   SQLITE = { library = "sqlite3" },
   PQ = { library = "pq" },
}
-- build.type "make": the Makefile builds and installs the rivulet executable too.
build = {
   type = "make",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LIBFLAG = "$(LIBFLAG)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      LUA = "$(LUA)",
      CURL_INCDIR = "$(CURL_INCDIR)",
      CURL_LIBDIR = "$(CURL_LIBDIR)",
   },
   install_variables = {
      PREFIX = "$(PREFIX)",
      LIBDIR = "$(LIBDIR)",
      LUADIR = "$(LUADIR)",
      BINDIR = "$(BINDIR)",
   },
   copy_directories = { "flows" },
}
test_dependencies = {
   "luaunit >= 3.4",
}
test = {
   type = "command",
   command = "make test",
}
