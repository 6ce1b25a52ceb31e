/*
** rivulet: the command-line host.
**
** Shaped like Lua's own lua.c: main() creates the state and runs pmain() in protected mode,
** so the panic handler never fires; every error is reported once, to stderr, prefixed
** "rivulet: ". Runtime errors in user code get a traceback (rv_host_pcall); usage errors and
** load errors do not. Exit statuses follow DESIGN.md: 0 ok, 1 failure, 2 bad input/usage.
**
** Subcommands are rows of `commands[]` ({name, handler, summary, usage}); adding one is one
** row plus its handler.
**
** The state is built by src/host.c (shared with the C API and the fuzz targets): the
** standard libraries, `rivulet.core` (linked in) in package.preload, and the modules from
** RIVULET_LUA_PATH (a Lua path or a directory) if set; otherwise from the first of
** <prefix>/lua (a checkout: build/rivulet -> ../lua) and <prefix>/share/lua/5.4 (an install
** or a LuaRocks tree) that holds rivulet/init.lua, where <prefix> is the parent of the
** executable's directory; otherwise from RIVULET_LUADIR, fixed at compile time by the
** Makefile.
*/

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <editline/readline.h>

#include "lua.h"
#include "lauxlib.h"

#include "host.h"
#include "lazy.h"
#include "version.h"

#define PROGNAME "rivulet"

enum { RV_EXIT_OK = 0, RV_EXIT_FAIL = 1, RV_EXIT_USAGE = 2 };

/* Results of reading one REPL line, besides LUA_OK and the load statuses: end of input (or
** `exit`), Ctrl-C, and a word of the prompt that was handled (`help`). */
enum { LINE_EOF = -1, LINE_INTR = -2, LINE_DONE = -3 };

/* The registry's key for rivulet.repl (printing, completion, the prompt's words). */
#define REPL_MODULE "rivulet.repl"

#define HISTORY_FILE ".rivulet_history"
#define HISTORY_MAX  1000
#define PROMPT1      "> "
#define PROMPT2      ">> "

/*
** Set by the SIGINT handler while the interactive REPL runs. Process-wide by nature (a
** signal carries no state pointer); the REPL's count hook turns it into an error on the
** state that is running, so no lua_State is kept in a global.
*/
static volatile sig_atomic_t interrupted = 0;

/*
** The state the interactive REPL runs, for libedit's completion callbacks, which carry no
** user data (rl_attempted_completion_function has no state argument). Set while the REPL
** reads a line, NULL otherwise.
*/
static lua_State *completion_state = NULL;
static const char *completion_word = NULL;  /* the word being completed, for complete_in_lua */

/*
** libedit, opened when the REPL starts on a terminal (see lazy.h: linking it maps libedit,
** libtinfo and libbsd at every start). Its functions and the variables the REPL sets, as
** pointers into the library; ed.lib.state > 0 once they are all there.
*/
#ifndef RV_EDIT_SONAME
#define RV_EDIT_SONAME "libedit.so.2"
#endif
static struct {
  rv_lazy lib;
  char *(*readline)(const char *);
  int (*add_history)(const char *);
  int (*write_history)(const char *);
  int (*read_history)(const char *);
  void (*using_history)(void);
  void (*stifle_history)(int);
  char **(*completion_matches)(const char *, rl_compentry_func_t *);
  const char **readline_name;
  const char **basic_word_break_characters;
  rl_completion_func_t **attempted_completion_function;
  int *attempted_completion_over;
  int *completion_append_character;
  int *catch_signals;
  int (**getc_function)(FILE *);
} ed = { { RV_EDIT_SONAME, "libedit (line editing)", NULL, 0, "" },
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };

/* NULL once libedit is open, else why it cannot be. */
static const char *edit_unavailable(void) {
  if (ed.lib.state == 0 && rv_lazy_open(&ed.lib)) {
    rv_lazy_sym(&ed.lib, "readline", &ed.readline);
    rv_lazy_sym(&ed.lib, "add_history", &ed.add_history);
    rv_lazy_sym(&ed.lib, "write_history", &ed.write_history);
    rv_lazy_sym(&ed.lib, "read_history", &ed.read_history);
    rv_lazy_sym(&ed.lib, "using_history", &ed.using_history);
    rv_lazy_sym(&ed.lib, "stifle_history", &ed.stifle_history);
    rv_lazy_sym(&ed.lib, "rl_completion_matches", &ed.completion_matches);
    rv_lazy_sym(&ed.lib, "rl_readline_name", &ed.readline_name);
    rv_lazy_sym(&ed.lib, "rl_basic_word_break_characters", &ed.basic_word_break_characters);
    rv_lazy_sym(&ed.lib, "rl_attempted_completion_function", &ed.attempted_completion_function);
    rv_lazy_sym(&ed.lib, "rl_attempted_completion_over", &ed.attempted_completion_over);
    rv_lazy_sym(&ed.lib, "rl_completion_append_character", &ed.completion_append_character);
    rv_lazy_sym(&ed.lib, "rl_catch_signals", &ed.catch_signals);
    rv_lazy_sym(&ed.lib, "rl_getc_function", &ed.getc_function);
  }
  return ed.lib.state > 0 ? NULL : ed.lib.why;
}


/* ---------------------------------------------------------------- reporting */

static void l_message(const char *msg) {
  fflush(stdout);
  fprintf(stderr, "%s: %s\n", PROGNAME, msg);
  fflush(stderr);
}

/* Prints the error on top of the stack (if status is an error) once, and pops it. */
static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    int top = lua_gettop(L);
    l_message(rv_host_errtext(L, -1));
    lua_settop(L, top - 1);
  }
  return status;
}

/* ---------------------------------------------------------------- commands */

typedef struct command command;

/* argc/argv are the process's; argv[first] is the first argument after the command name */
typedef int (*handler)(lua_State *L, const command *self, int argc, char **argv, int first);

struct command {
  const char *name;
  handler run;
  const char *summary;
  const char *usage;   /* first line: synopsis after "rivulet "; then a blank line, text */
};

static int cmd_repl(lua_State *L, const command *self, int argc, char **argv, int first);
static int cmd_lua(lua_State *L, const command *self, int argc, char **argv, int first);
static int cmd_version(lua_State *L, const command *self, int argc, char **argv, int first);
static int cmd_help(lua_State *L, const command *self, int argc, char **argv, int first);
static int cmd_lua_cli(lua_State *L, const command *self, int argc, char **argv, int first);

static const command commands[] = {
  {"repl", cmd_repl, "interactive Lua prompt with rivulet loaded",
   "repl\n\n"
   "Starts a Lua 5.4 prompt with the global `rivulet` = require \"rivulet\".\n"
   "Expressions print their values (tables as Lua constructors, nested and sorted);\n"
   "incomplete statements continue on the next line. `help` shows examples, `exit`\n"
   "(or Ctrl-D) leaves. On a terminal: line editing, Tab completes names and methods\n"
   "(rivulet.li<Tab>, x:<Tab>), history in ~/" HISTORY_FILE ", Ctrl-C clears the\n"
   "line (or stops running code). With input from a pipe, lines are evaluated the\n"
   "same way without prompts.\n"
   "Exit status: 0 (exit, Ctrl-D, end of input), 1 the rivulet modules cannot load,\n"
   "2 bad usage.\n"},
  {"lua", cmd_lua, "run a Lua script with rivulet loaded",
   "lua SCRIPT [ARGS...]\n\n"
   "Runs SCRIPT (\"-\" reads it from stdin) like `lua SCRIPT ARGS...`, with the\n"
   "global `rivulet` = require \"rivulet\". The global `arg` holds arg[0] = SCRIPT,\n"
   "arg[1..n] = ARGS, and the interpreter at negative indices; ARGS are also the\n"
   "chunk's `...`. Use `--` before a SCRIPT whose name starts with '-'.\n"
   "Exit status: 0 ok, 1 the script failed, 2 bad usage or unreadable SCRIPT.\n"},
  {"run", cmd_lua_cli, "run one execution of a flow",
   "run FLOW [options]\n\n"
   "Runs one execution of FLOW (a .lua flow or a Studio Flow JSON file). On a\n"
   "terminal it is a conversation: the flow's messages print and Send & Wait asks\n"
   "for the reply. Otherwise replies come from --reply, --replies or stdin.\n"
   "A call (--trigger incomingCall) prints what the caller hears (\"> (voice) ...\");\n"
   "a Gather takes a line as keys (0-9 # *) or speech, a Record as the message, an\n"
   "empty line is silence and end of input hangs up. Where the outside world decides\n"
   "(a dialled number, a queue, Flex, a payment...), a line names the widget's event\n"
   "(empty: its first).\n\n"
   "  --trigger EVENT     incomingMessage (default), incomingRequest, incomingCall, ...\n"
   "  --from ADDR         the contact (contact.channel.address, trigger.message.From)\n"
   "  --to ADDR           the flow's own address (flow.channel.address)\n"
   "  --body TEXT         the inbound message that triggers\n"
   "  --param KEY=VALUE   REST trigger parameters (flow.data); repeatable\n"
   "  --reply TEXT        a reply to give, in order; repeatable\n"
   "  --replies FILE      replies, one per line\n"
   "  --map-url FROM=TO   rewrite URL prefixes; repeatable\n"
   "  --auth-token TOKEN  sign requests (default $RIVULET_AUTH_TOKEN)\n"
   "  --account-sid AC... the account (default $RIVULET_ACCOUNT_SID): trigger.*.\n"
   "                      AccountSid, and with the token what Make HTTP Request's\n"
   "                      add_twilio_auth sends to Twilio's API\n"
   "  --map-function ZH...=URL  a Run Function naming that function SID calls URL\n"
   "                      (Studio exports often have no url); repeatable\n"
   "  --functions FILE    the same from a JSON file {\"ZH...\": \"URL\"}; repeatable\n"
   "  --log FILE          write the execution record (JSON)\n"
   "  --store DB          keep the execution in an SQLite store as it runs (default\n"
   "                      $RIVULET_STORE; see rivulet logs), or postgresql://URI\n"
   "  --subflows DIR      where Run Subflow finds flow_sid: DIR/FLOW_SID.lua or .json\n"
   "  --event WIDGET=EVENT  the event WIDGET takes whenever it waits for the outside\n"
   "                      world (a call's outcome, Flex...); repeatable\n"
   "  -v, --verbose       trace every step (widget, event, next, time) and every\n"
   "                      function/HTTP request and reply, on stderr\n"
   "  -q, --quiet         only the flow's messages (and the last line if it failed)\n"
   "A widget that fails prints on stderr as it happens (\"! WIDGET (TYPE) EVENT:\n"
   "REASON: MESSAGE -> NEXT\"), and so does a call still unanswered after 2 s. The\n"
   "last line, on stderr, says why the execution stopped. Ctrl-C ends the execution\n"
   "where it stands (recorded as a step \"ended\", also with --store, so the contact\n"
   "is free again), writes --log, and exits 130.\n"
   "Exit status: 0 ended normally, 1 the flow failed or could not finish (with\n"
   "--store: the store failed, e.g. the disk is full, an I/O error, a read-only\n"
   "file; what was saved before is kept), 2 bad input (usage, a flow that does not\n"
   "load or validate, a --store that is no usable store: missing directory, not a\n"
   "store, damaged, newer), 130 Ctrl-C (143 SIGTERM).\n"},
  {"deliver", cmd_lua_cli, "hand an inbound message to a stored execution",
   "deliver --store DB --flow FLOW --from ADDR --to ADDR --body TEXT [options]\n"
   "deliver --store DB --tick [options]\n\n"
   "Webhook-style: the message from ADDR (the contact) to ADDR (the flow's number)\n"
   "goes to the contact's waiting execution in DB, or starts a new execution of\n"
   "FLOW. The execution runs to its next wait or its end and is saved; on opening,\n"
   "DB's other executions catch up (due timeouts fire, work cut off by a crash runs\n"
   "again). Outbound messages print on stdout as \"> BODY\" (\"> (to ADDR) BODY\"\n"
   "for other contacts); the last line, on stderr, says where the execution stands.\n\n"
   "  --store DB          the SQLite store (default $RIVULET_STORE); created if missing;\n"
   "                      or postgresql://URI (a PostgreSQL database)\n"
   "  --flow FLOW         the flow a new execution runs (.lua or Studio JSON)\n"
   "  --media-url URL     a media attachment (MediaUrl0)\n"
   "  --map-url FROM=TO   rewrite URL prefixes; repeatable\n"
   "  --auth-token TOKEN  sign requests (default $RIVULET_AUTH_TOKEN)\n"
   "  --account-sid AC... the account (default $RIVULET_ACCOUNT_SID)\n"
   "  --map-function ZH...=URL, --functions FILE  where Run Function widgets that\n"
   "                      name a function SID call it (as rivulet run)\n"
   "  --subflows DIR      where Run Subflow finds flow_sid: DIR/FLOW_SID.lua or .json\n"
   "  --tick              no message: only catch up (due timeouts fire, cut-off work\n"
   "                      runs again), e.g. from cron, so timeouts need no traffic\n"
   "  --json              print one JSON object instead: sid, status, state, what it\n"
   "                      waits for, and the messages sent\n"
   "Exit status: 0 the message was taken and the execution waits or ended normally,\n"
   "1 the message was not taken (the execution waits for something else), the\n"
   "execution failed, or the store failed (the disk is full, an I/O error, a\n"
   "read-only file, a lock held past the busy timeout: SQLite's message, the file\n"
   "named; what was saved before is kept), 2 bad input or a store unusable as\n"
   "given (missing directory, not a store, damaged, newer).\n"},
  {"serve", cmd_lua_cli, "serve Studio's REST API and Twilio's webhooks",
   "serve [--listen HOST:PORT] [--store DB] [--flows DIR] [--public-url URL]\n"
   "      [--account-sid AC...] [--auth-token TOKEN] [--twilio-api URL] [options]\n\n"
   "A self-hosted Studio: the Studio REST API v2 (/v2/Flows, Executions, Steps, ...)\n"
   "and each flow's webhook (/v1/Accounts/AC.../Flows/FW...), where Twilio posts a\n"
   "number's messages and calls. The first line on stdout is \"rivulet serve:\n"
   "listening on http://HOST:PORT\". SIGTERM or SIGINT stops it cleanly.\n\n"
   "  --listen HOST:PORT  where to listen (default 127.0.0.1:8080; port 0: any free one)\n"
   "  --store DB          the SQLite store (default rivulet.db, or $RIVULET_STORE), or\n"
   "                      postgresql://URI: processes on many hosts share the database\n"
   "  --flows DIR         publish every *.json and *.lua flow in DIR at start (a flow's\n"
   "                      SID is the same after a restart); prints \"flow FW... NAME\"\n"
   "  --public-url URL    the base of every URL in answers, and the URL Twilio's\n"
   "                      signatures cover (default http://HOST:PORT)\n"
   "  --account-sid AC... the account (default $RIVULET_ACCOUNT_SID)\n"
   "  --auth-token TOKEN  its token (default $RIVULET_AUTH_TOKEN). Without them, made\n"
   "                      up at start and printed once. The REST API wants HTTP Basic\n"
   "                      AC...:TOKEN; webhooks a valid X-Twilio-Signature\n"
   "  --twilio-api URL    send messages through Twilio's Messages API at URL (e.g.\n"
   "                      https://api.twilio.com); without it nothing leaves the machine:\n"
   "                      messages are stored and printed (\"> ADDR: BODY\")\n"
   "  --map-url FROM=TO   rewrite URL prefixes of Run Function/HTTP calls; repeatable\n"
   "  --map-function ZH...=URL, --functions FILE  where Run Function widgets that\n"
   "                      name a function SID call it (as rivulet run); repeatable\n"
   "  --subflows DIR      where Run Subflow finds flow_sid: DIR/FLOW_SID.lua or .json\n"
   "Make Outgoing Call goes through the Calls API at --twilio-api.\n"
   "GET /ui/ (same credentials) is the inspector: flows and their graphs, executions,\n"
   "their steps, a panel to talk to a flow; GET /metrics is Prometheus text.\n"
   "A call to the flow's webhook is answered with the TwiML of the voice widget it\n"
   "reaches; Twilio's callbacks come back under the webhook's path. Point the\n"
   "number's call status callback at the webhook URL too: a hang-up ends the call's\n"
   "execution.\n"
   "Exit status: 0 stopped by a signal, 1 an internal error or a store that failed\n"
   "to open (an I/O error, a read-only file), 2 bad usage, a port that cannot be\n"
   "bound or a store unusable as given (not a store, damaged, newer).\n"},
  {"webhook", cmd_lua_cli, "post a signed Twilio webhook (an incoming message or call)",
   "webhook URL --from ADDR --to ADDR [--body TEXT] [--call] [options]\n\n"
   "Posts to URL (a flow's webhook_url) what Twilio posts when a message (or, with\n"
   "--call, a call) comes in from ADDR to ADDR: every field Twilio sends, signed with\n"
   "X-Twilio-Signature. Prints the HTTP status and the answer (TwiML).\n\n"
   "  --body TEXT         the message's text\n"
   "  --call              an incoming call instead of a message\n"
   "  --sid SID           the MessageSid or CallSid (default: a new one each time; the\n"
   "                      same one again is what a Twilio retry looks like)\n"
   "  --field NAME=VALUE  another field (MediaUrl0=..., FromCity=...); repeatable\n"
   "  --auth-token TOKEN  the token to sign with (default $RIVULET_AUTH_TOKEN)\n"
   "  --account-sid AC... AccountSid (default $RIVULET_ACCOUNT_SID, or the one in URL)\n"
   "  --sign-url URL      sign for this URL instead (the server's --public-url)\n"
   "Exit status: 0 a 2xx answer, 1 another answer or none, 2 bad usage.\n"},
  {"logs", cmd_lua_cli, "list stored executions, or show one",
   "logs --store DB [--status S] [--since T] [--until T] [--contact ADDR] [--limit N] [--json]\n"
   "logs --store DB SID [--json]\n\n"
   "Lists the executions in DB, newest first: sid, flow, contact, status, started,\n"
   "ended. With SID: its steps (time, event, from, to) and its context. Nothing is\n"
   "written to DB; a DB on a read-only medium or in a read-only directory reads\n"
   "too (as of its last checkpoint when its -wal cannot be read: a note says so).\n"
   "JSON output is valid UTF-8: bytes that are not show as U+FFFD.\n\n"
   "  --store DB          the SQLite store (default $RIVULET_STORE), or postgresql://URI\n"
   "  --status S          active, ended (normally) or failed\n"
   "  --since T, --until T  started at or after / before T: 2026-11-25,\n"
   "                      2026-11-25T14:00[:00][Z] (UTC), epoch seconds, or an age\n"
   "                      such as 30m, 2h, 7d\n"
   "  --contact ADDR      executions of one contact\n"
   "  --limit N           at most N executions (default 100; 0: all)\n"
   "  --json              a JSON array of executions, or the execution record\n"
   "Exit status: 0 ok, 1 no such execution, or the store could not be read (an I/O\n"
   "error, a file that is there but cannot be opened), 2 bad usage or a store\n"
   "unusable as given (missing, not a store, damaged, newer).\n"},
  {"end", cmd_lua_cli, "end stored executions (a stuck one, a contact's old one)",
   "end SID... --store DB [--reason TEXT]\n\n"
   "Ends each execution SID kept in DB wherever it stands, as Studio's\n"
   "Status=ended does: a step \"ended\" from its state, the reason kept (default\n"
   "\"ended with rivulet end\"), its subflows ended too. Nothing else in DB runs.\n"
   "Use it when \"the contact already has an active execution\" blocks a new one.\n\n"
   "  --store DB          the SQLite store (default $RIVULET_STORE)\n"
   "  --reason TEXT       why, as the execution's log will say\n"
   "Exit status: 0 every SID ended, 1 one was not active (already ended, not in\n"
   "DB), another process runs it right now, or the store failed, 2 bad usage or a\n"
   "store unusable as given (missing, not a store, damaged, newer).\n"},
  {"validate", cmd_lua_cli, "check flows for errors and warnings",
   "validate [-q] [options] FLOW...\n\n"
   "Checks each flow; every problem on one line, FILE: #/json/path: error|warning: message.\n"
   "Then what a local run cannot reach (a Run Function naming only its function SID, a\n"
   "subflow not found, add_twilio_auth without credentials, a widget the outside world\n"
   "answers), as FILE: #/json/path: local: message; the summary counts them.\n"
   "The last line, on stderr, is \"N flows, N errors, N warnings, N for a local run\".\n"
   "A file that is not a flow (a Lua script, JSON that is no Studio export) is an\n"
   "error saying so.\n\n"
   "  -q, --quiet         errors only (warnings still counted)\n"
   "  --map-function ZH...=URL, --functions FILE   functions a run would be given\n"
   "  --subflows DIR      where a run would find subflows\n"
   "  --account-sid AC..., --auth-token TOKEN      credentials a run would be given\n"
   "                      (default $RIVULET_ACCOUNT_SID, $RIVULET_AUTH_TOKEN)\n"
   "Exit status: 0 no errors (warnings may print), 1 errors, 2 a file that cannot\n"
   "be read or is not a flow, or bad usage.\n"},
  {"graph", cmd_lua_cli, "print a flow as Graphviz DOT",
   "graph FLOW\n\n"
   "Prints the flow's states (name and type) and transitions (events) as DOT:\n"
   "  rivulet graph flow.lua | dot -Tsvg > flow.svg   (dot: apt-get install graphviz)\n"
   "Exit status: 0 ok, 2 bad usage or a flow that does not load.\n"},
  {"export", cmd_lua_cli, "write a flow as Studio Flow JSON (to import into Studio)",
   "export FLOW [-o FILE]\n\n"
   "Writes FLOW (a Lua flow, or Studio JSON) as Studio's Flow Definition JSON, to\n"
   "import into Studio (Import from JSON, or the REST API's definition). States\n"
   "without a canvas position get one. rivulet reads the JSON back as the same flow.\n"
   "A flow with `lua` widgets (custom logic in Lua) cannot become Studio JSON:\n"
   "Studio has no such widget (its logic belongs in a Function, called by Run\n"
   "Function); export says which widgets and writes nothing.\n\n"
   "  -o, --output FILE   write FILE instead of stdout\n"
   "Exit status: 0 written, 1 the flow cannot become Studio JSON (lua widgets,\n"
   "validation errors: printed with their JSON paths), 2 bad usage or a flow that\n"
   "does not load.\n"},
  {"test", cmd_lua_cli, "run conversation specs against flows",
   "test SPEC... [--junit FILE] [--coverage] [--dot FILE] [-v | -q]\n\n"
   "Runs every case of each SPEC against its flow: a Lua file returning\n"
   "{flow = FILE, cases = {...}} (the format: lua/rivulet/test/init.lua).\n"
   "Functions and HTTP calls are stubbed per case, time is simulated. A failure\n"
   "prints the case, the conversation so far and what was expected (-) next to\n"
   "what came (+).\n"
   "The last line is \"N passed, N failed\" (\", N skipped\" when cases skipped).\n\n"
   "  --coverage          per flow: the states and transitions the cases took, and\n"
   "                      the untested transitions (state -event-> next)\n"
   "  --dot FILE          write the flows as DOT, untested transitions red and dashed\n"
   "  --junit FILE        write JUnit XML\n"
   "  -v, --verbose       one line per case\n"
   "  -q, --quiet         only failures and the last line\n"
   "Exit status: 0 all passed, 1 a case failed, 2 bad usage or an unreadable spec\n"
   "or flow.\n\n"
   "test --from-execution SID --store DB [-o FILE] [--flow PATH] [--subflows DIR]\n\n"
   "Writes a spec that replays a stored execution (its trigger, replies and function\n"
   "replies as stubs; the messages, path and end it had as expectations) to FILE or\n"
   "stdout. It passes as written; after the flow changes a branch it fails, naming\n"
   "the step. Exit status: 0 written, 1 no such execution or it cannot be replayed,\n"
   "2 bad usage or a store unusable as given.\n"},
  {"env", cmd_lua_cli, "print LUA_PATH/LUA_CPATH for stock lua5.4",
   "env\n\n"
   "Prints shell lines that let stock lua5.4 find the rivulet modules where this\n"
   "rivulet finds them (any install PREFIX, a LuaRocks tree, a checkout):\n"
   "  eval \"$(rivulet env)\"; lua5.4 -e 'require \"rivulet\"'\n"
   "Exit status: 0, 1 the C module (rivulet/core.so) is nowhere to be found,\n"
   "2 bad usage.\n"},
  {"version", cmd_version, "print the version",
   "version\n\n"
   "Prints the rivulet version, then the Lua and libcurl versions.\n"
   "Exit status: 0, 2 bad usage.\n"},
  {"help", cmd_help, "show help for a command",
   "help [COMMAND]\n\n"
   "Lists the commands, or shows the help of COMMAND (same as COMMAND --help).\n"
   "Exit status: 0, 2 an unknown COMMAND.\n"},
  {NULL, NULL, NULL, NULL}
};

static const command *find_command(const char *name) {
  const command *c;
  for (c = commands; c->name != NULL; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

static int is_help_flag(const char *s) {
  return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

static void print_usage(FILE *f) {
  const command *c;
  fprintf(f, "usage: %s COMMAND [ARGS...]\n\n"
             "Runs Twilio-Studio-style flows locally.\n\nCommands:\n", PROGNAME);
  for (c = commands; c->name != NULL; c++)
    fprintf(f, "  %-10s %s\n", c->name, c->summary);
  fprintf(f, "\nRun '%s COMMAND --help' for the details of one command.\n", PROGNAME);
}

static void print_command_usage(FILE *f, const command *c) {
  fprintf(f, "usage: %s %s", PROGNAME, c->usage);  /* usage ends with a newline */
}

/* Reports bad usage of c and returns the usage exit status, in the shape every command
** (C or Lua) uses: "rivulet CMD: message", "usage: rivulet CMD SYNOPSIS", "Run 'rivulet CMD
** --help' for details." */
static int usage_error(const command *c, const char *fmt, ...) {
  va_list ap;
  const char *nl = strchr(c->usage, '\n');
  int synlen = nl ? (int)(nl - c->usage) : (int)strlen(c->usage);
  fflush(stdout);
  fprintf(stderr, "%s %s: ", PROGNAME, c->name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nusage: %s %.*s\nRun '%s %s --help' for details.\n",
          PROGNAME, synlen, c->usage, PROGNAME, c->name);
  fflush(stderr);
  return RV_EXIT_USAGE;
}

/* Makes `rivulet` a global holding require("rivulet"). Load failures are reported plainly. */
static int load_rivulet(lua_State *L) {
  int status;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "rivulet");
  status = lua_pcall(L, 1, 1, 0);
  if (status != LUA_OK) {
    l_message(lua_pushfstring(L, "cannot load module 'rivulet': %s", rv_host_errtext(L, -1)));
    lua_settop(L, 0);
    return status;
  }
  lua_setglobal(L, "rivulet");
  return LUA_OK;
}


/* `rivulet version` */
static int cmd_version(lua_State *L, const command *self, int argc, char **argv, int first) {
  const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
  (void)L;
  if (first < argc)
    return usage_error(self, "unexpected argument '%s'", argv[first]);
  printf("%s %s\n%s, libcurl %s\n", PROGNAME, RIVULET_VERSION, LUA_RELEASE,
         cv != NULL ? cv->version : "?");
  return RV_EXIT_OK;
}


/* `rivulet help [COMMAND]` */
static int cmd_help(lua_State *L, const command *self, int argc, char **argv, int first) {
  const command *c;
  (void)L;
  if (first >= argc) {
    print_usage(stdout);
    return RV_EXIT_OK;
  }
  if (first + 1 < argc)
    return usage_error(self, "unexpected argument '%s'", argv[first + 1]);
  c = find_command(argv[first]);
  if (c == NULL)
    return usage_error(self, "unknown command '%s'", argv[first]);
  print_command_usage(stdout, c);
  return RV_EXIT_OK;
}


/* Commands written in Lua (lua/rivulet/cli/NAME.lua): main(args) returns the exit status. */
static int cmd_lua_cli(lua_State *L, const command *self, int argc, char **argv, int first) {
  int j, status, code;
  /* no collections while the modules load: what they make is their code and tables, kept
  ** to the end, so a collection then would only walk it */
  lua_gc(L, LUA_GCSTOP);
  if (load_rivulet(L) != LUA_OK) {
    lua_gc(L, LUA_GCRESTART);
    return RV_EXIT_FAIL;
  }
  lua_getglobal(L, "require");
  lua_pushfstring(L, "rivulet.cli.%s", self->name);
  status = rv_host_pcall(L, 1, 1);
  lua_gc(L, LUA_GCRESTART);
  if (status != LUA_OK) {
    report(L, status);
    return RV_EXIT_FAIL;
  }
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc - first, 0);
  for (j = first; j < argc; j++) {
    lua_pushstring(L, argv[j]);
    lua_rawseti(L, -2, j - first + 1);
  }
  status = rv_host_pcall(L, 1, 1);
  if (report(L, status) != LUA_OK)
    return RV_EXIT_FAIL;
  code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : RV_EXIT_OK;
  lua_pop(L, 1);
  return code;
}


/* `rivulet lua SCRIPT [ARGS...]`: like `lua SCRIPT ARGS...` */
static int cmd_lua(lua_State *L, const command *self, int argc, char **argv, int first) {
  const char *script;
  int i = first, j, nargs, status;
  if (i < argc && strcmp(argv[i], "--") == 0)
    i++;  /* what follows is the script, even if it starts with '-' */
  else if (i < argc && argv[i][0] == '-' && argv[i][1] != '\0')
    return usage_error(self, "unknown option '%s'", argv[i]);
  if (i >= argc)
    return usage_error(self, "missing SCRIPT");
  script = argv[i];
  nargs = argc - i - 1;
  /* arg[0] = script, arg[1..] = its arguments, negative indices = the interpreter */
  lua_createtable(L, nargs, i + 1);
  for (j = 0; j < argc; j++) {
    lua_pushstring(L, argv[j]);
    lua_rawseti(L, -2, j - i);
  }
  lua_setglobal(L, "arg");
  if (load_rivulet(L) != LUA_OK)
    return RV_EXIT_FAIL;
  status = luaL_loadfile(L, strcmp(script, "-") == 0 ? NULL : script);
  if (status != LUA_OK) {
    report(L, status);  /* no traceback: the script never ran */
    return status == LUA_ERRFILE ? RV_EXIT_USAGE : RV_EXIT_FAIL;
  }
  luaL_checkstack(L, nargs + 3, "too many arguments to script");
  for (j = i + 1; j < argc; j++)
    lua_pushstring(L, argv[j]);
  status = rv_host_pcall(L, nargs, 0);
  return report(L, status) == LUA_OK ? RV_EXIT_OK : RV_EXIT_FAIL;
}


/* ---------------------------------------------------------------- the REPL */

typedef struct repl {
  int tty;               /* line editing (libedit) vs plain line reading */
  const char *history;   /* history file, or NULL */
} repl;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Installed on the state while a REPL chunk runs: turns Ctrl-C into an error. */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (interrupted) {
    interrupted = 0;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
  }
}

/* Reads one byte from stdin; -1 at end of input, error, or Ctrl-C. */
static int read_byte(void) {
  unsigned char c;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n == 1)
      return c;
    if (n < 0 && errno == EINTR && !interrupted)
      continue;
    return -1;
  }
}

/*
** libedit's character source (rl_getc_function): a UTF-8 sequence becomes one code point.
** Returning -1 ends the line; with `interrupted` set that means Ctrl-C, not end of input,
** and readline() returns NULL with the partial line discarded.
*/
static int repl_getc(FILE *f) {
  int c = read_byte(), n, i;
  long cp;
  (void)f;
  if (c < 0x80)
    return c;  /* ASCII, or -1 */
  if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
  else return 0xFFFD;
  for (i = 0; i < n; i++) {
    int d = read_byte();
    if (d < 0)
      return -1;
    if ((d & 0xC0) != 0x80)
      return 0xFFFD;
    cp = (cp << 6) | (d & 0x3F);
  }
  return (int)cp;
}

/* Pushes one line read without line editing (newline removed); 0 at end of input. */
static int push_plain_line(lua_State *L) {
  luaL_Buffer b;
  char chunk[512];
  int any = 0;
  luaL_buffinit(L, &b);
  while (fgets(chunk, sizeof chunk, stdin) != NULL) {
    size_t n = strlen(chunk);
    any = 1;
    if (n > 0 && chunk[n - 1] == '\n') {
      luaL_addlstring(&b, chunk, n - 1);
      break;
    }
    luaL_addlstring(&b, chunk, n);
  }
  luaL_pushresult(&b);
  if (!any) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

/* Pushes the next line; returns LUA_OK, LINE_EOF or LINE_INTR. */
static int pushline(lua_State *L, const repl *r, int firstline) {
  char *line;
  if (!r->tty)
    return push_plain_line(L) ? LUA_OK : LINE_EOF;
  interrupted = 0;
  line = ed.readline(firstline ? PROMPT1 : PROMPT2);
  if (line == NULL)
    return interrupted ? LINE_INTR : LINE_EOF;
  lua_pushstring(L, line);
  free(line);
  return LUA_OK;
}

static void saveline(const repl *r, const char *chunk) {
  if (!r->tty || chunk[0] == '\0')
    return;
  ed.add_history(chunk);
  if (r->history != NULL && ed.write_history(r->history) == 0)
    chmod(r->history, S_IRUSR | S_IWUSR);  /* history may hold tokens; best effort */
}

/* A syntax error whose message (on top) ends in "<eof>" means "more input needed". */
static int incomplete(lua_State *L, int status) {
  static const char mark[] = "<eof>";
  size_t len, mlen = sizeof mark - 1;
  const char *msg;
  if (status != LUA_ERRSYNTAX)
    return 0;
  msg = lua_tolstring(L, -1, &len);
  return msg != NULL && len >= mlen && strcmp(msg + len - mlen, mark) == 0;
}

/* Line on top: try it as "return <line>;" so expressions print. Leaves the chunk or nothing. */
static int addreturn(lua_State *L, const repl *r) {
  const char *line = lua_tostring(L, -1);
  const char *code = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
  if (status == LUA_OK) {
    lua_remove(L, -2);  /* the "return" text */
    saveline(r, line);
    lua_remove(L, -2);  /* the line */
  }
  else
    lua_pop(L, 2);  /* error message and "return" text; the line stays */
  return status;
}

/* Line on top: compile it as a statement, reading more lines while it is incomplete. */
static int multiline(lua_State *L, const repl *r) {
  for (;;) {
    size_t len;
    const char *chunk = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, chunk, len, "=stdin");
    int more;
    if (!incomplete(L, status)) {
      saveline(r, chunk);
      lua_remove(L, 1);  /* leaves the function or the error message */
      return status;
    }
    more = pushline(L, r, 0);
    if (more == LINE_INTR)
      return LINE_INTR;
    if (more == LINE_EOF) {  /* input ended inside the chunk: report why it is incomplete */
      saveline(r, chunk);
      lua_remove(L, 1);
      return status;
    }
    lua_remove(L, -2);  /* the "<eof>" message */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);  /* chunk .. "\n" .. line */
  }
}

static int prompt_word(lua_State *L, const repl *r);

/* Reads and compiles one chunk; on LUA_OK the function is the only value on the stack. */
static int loadline(lua_State *L, const repl *r) {
  int status;
  lua_settop(L, 0);
  completion_state = L;
  status = pushline(L, r, 1);
  completion_state = NULL;
  if (status != LUA_OK)
    return status;
  if ((status = prompt_word(L, r)) != LUA_OK)
    return status;
  if (addreturn(L, r) == LUA_OK)
    return LUA_OK;
  return multiline(L, r);
}

/* Pushes rivulet.repl's field `name` (a function), or nil when the module did not load. */
static int push_repl_field(lua_State *L, const char *name) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, REPL_MODULE) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNIL;
  }
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

/* Prints the values on the stack with rivulet.repl.show (tables as Lua constructors), or
** with the global `print` when that module is missing, as lua.c does. */
static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0)
    return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  if (push_repl_field(L, "show") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_getglobal(L, "print");
  }
  lua_insert(L, 1);
  if (rv_host_pcall(L, n, 0) != LUA_OK)
    l_message(lua_pushfstring(L, "error printing the result (%s)", rv_host_errtext(L, -1)));
}

/* The line on top is a word of the prompt (rivulet.repl.command: `help`, `exit`)? Returns
** LINE_DONE (help was shown), LINE_EOF (exit) or LUA_OK (an ordinary line, left on top). */
static int prompt_word(lua_State *L, const repl *r) {
  const char *word;
  if (push_repl_field(L, "command") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return LUA_OK;
  }
  lua_pushvalue(L, -2);
  if (rv_host_pcall(L, 1, 1) != LUA_OK || (word = lua_tostring(L, -1)) == NULL) {
    lua_pop(L, 1);
    return LUA_OK;
  }
  if (strcmp(word, "exit") == 0) {
    lua_pop(L, 1);
    return LINE_EOF;
  }
  lua_pop(L, 1);
  saveline(r, lua_tostring(L, -1));
  lua_pop(L, 1);  /* the line */
  if (push_repl_field(L, "HELP") == LUA_TSTRING) {
    fputs(lua_tostring(L, -1), stdout);
    fputs("\n", stdout);
    fflush(stdout);
  }
  lua_pop(L, 1);
  return LINE_DONE;
}

/* ---- completion (libedit) */

/* In protected mode: rivulet.repl.complete(word), kept in the registry as the candidates
** the generator below hands out; with one candidate, what follows it (suffix). */
static int complete_in_lua(lua_State *L) {
  const char *word = completion_word;
  lua_settop(L, 0);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, REPL_MODULE ".candidates");
  *ed.completion_append_character = ' ';
  if (push_repl_field(L, "complete") != LUA_TFUNCTION)
    return 0;
  lua_pushstring(L, word);
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1))
    return 0;
  if (lua_rawlen(L, -1) == 1 && push_repl_field(L, "suffix") == LUA_TFUNCTION) {
    const char *suffix;
    lua_rawgeti(L, -2, 1);
    lua_call(L, 1, 1);
    suffix = lua_tostring(L, -1);
    if (suffix != NULL)
      *ed.completion_append_character = suffix[0] == ' ' ? ' ' : suffix[0];
    lua_pop(L, 1);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, REPL_MODULE ".candidates");
  return 0;
}

/* libedit's generator: the state-th candidate for text, malloc'ed, or NULL after the last. */
static char *repl_candidate(const char *text, int state) {
  lua_State *L = completion_state;
  int top;
  char *copy = NULL;
  if (L == NULL)
    return NULL;
  top = lua_gettop(L);
  if (state == 0) {
    /* a protected call: no Lua error may unwind through libedit's frames */
    lua_pushcfunction(L, complete_in_lua);
    completion_word = text;
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      lua_settop(L, top);
      return NULL;
    }
  }
  if (lua_getfield(L, LUA_REGISTRYINDEX, REPL_MODULE ".candidates") == LUA_TTABLE
      && lua_rawgeti(L, -1, (lua_Integer)state + 1) == LUA_TSTRING) {
    size_t len;
    const char *c = lua_tolstring(L, -1, &len);
    copy = (char *)malloc(len + 1);
    if (copy != NULL)
      memcpy(copy, c, len + 1);
  }
  lua_settop(L, top);
  return copy;
}

static char **repl_completion(const char *text, int start, int end) {
  (void)start;
  (void)end;
  *ed.attempted_completion_over = 1;  /* Lua names only, never file names */
  return ed.completion_matches(text, repl_candidate);
}

static void setup_editing(lua_State *L, repl *r) {
  struct sigaction sa;
  const char *home = getenv("HOME");
  setlocale(LC_CTYPE, "");  /* lets libedit take UTF-8 input */
  *ed.readline_name = PROGNAME;
  *ed.catch_signals = 0;     /* Ctrl-C is ours: see repl_getc and interrupt_hook */
  *ed.getc_function = repl_getc;
  *ed.attempted_completion_function = repl_completion;
  /* "." and ":" stay inside a word: rivulet.liquid.re<Tab>, x:me<Tab> */
  *ed.basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,[]+-*/%^#~";
  ed.using_history();
  ed.stifle_history(HISTORY_MAX);
  if (home != NULL && home[0] != '\0') {
    r->history = lua_pushfstring(L, "%s/%s", home, HISTORY_FILE);
    lua_setfield(L, LUA_REGISTRYINDEX, "rivulet.repl.history");  /* keeps it alive */
    ed.read_history(r->history);  /* missing or unreadable: start empty */
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  /* no SA_RESTART: a blocked read returns EINTR */
  sigaction(SIGINT, &sa, NULL);
}

/* `rivulet repl` */
static int cmd_repl(lua_State *L, const command *self, int argc, char **argv, int first) {
  repl r;
  int status;
  if (first < argc)
    return usage_error(self, "unexpected argument '%s'", argv[first]);
  if (load_rivulet(L) != LUA_OK)
    return RV_EXIT_FAIL;
  lua_getglobal(L, "require");
  lua_pushliteral(L, REPL_MODULE);
  if (rv_host_pcall(L, 1, 1) == LUA_OK)
    lua_setfield(L, LUA_REGISTRYINDEX, REPL_MODULE);
  else
    report(L, LUA_ERRRUN);  /* plain printing, no completion: the prompt still works */
  r.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  r.history = NULL;
  if (r.tty && edit_unavailable() != NULL) {   /* the prompt still works, without editing */
    l_message(lua_pushfstring(L, "%s; lines are read without editing", ed.lib.why));
    lua_pop(L, 1);
    r.tty = 0;
  }
  if (r.tty) {
    setup_editing(L, &r);
    printf("%s %s (%s) \xE2\x80\x94 rivulet is loaded; `help` for examples, Tab completes\n",
           PROGNAME, RIVULET_VERSION, LUA_VERSION);
    fflush(stdout);
  }
  while ((status = loadline(L, &r)) != LINE_EOF) {
    if (status == LINE_INTR) {  /* Ctrl-C at a prompt: drop the input, prompt again */
      fputs("\n", stdout);
      fflush(stdout);
      continue;
    }
    if (status == LINE_DONE)
      continue;
    if (status == LUA_OK) {
      if (r.tty) {
        interrupted = 0;
        lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 1000);
      }
      status = rv_host_pcall(L, 0, LUA_MULTRET);
      if (r.tty)
        lua_sethook(L, NULL, 0, 0);
    }
    if (status == LUA_OK)
      print_results(L);
    else
      report(L, status);
  }
  lua_settop(L, 0);
  if (r.tty) {
    fputs("\n", stdout);
    fflush(stdout);
    signal(SIGINT, SIG_DFL);
  }
  return RV_EXIT_OK;
}




/* ---------------------------------------------------------------- the arena */

/*
** A short-lived command (rivulet run, deliver, validate...) lives a few milliseconds and
** allocates a few megabytes, nearly all of it its modules' code, kept to the end. Its
** state allocates from one block: a block is the top of the arena moved up, a freed block
** is given back only when it is the last one, and the arena is never freed (the process
** exits). Past ARENA_SIZE, and for every block made before the arena was set (the state
** itself), blocks are realloc's and free's as usual, so a command that runs long wastes at
** most the arena. Off in sanitizer builds and under RIVULET_FREE_AT_EXIT=1 (make memcheck:
** valgrind sees every block), and for the long-running commands (serve, repl, lua, test).
*/
#define ARENA_SIZE  ((size_t)4 << 20)
#define ARENA_ALIGN ((size_t)16)

#if defined(__SANITIZE_ADDRESS__)
#define RV_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RV_SANITIZED 1
#endif
#endif
#ifdef RV_SANITIZED
#define ARENA_ON 0                   /* a plain if, not #if: the arena's code still compiles */
#else
#define ARENA_ON 1
#endif

typedef struct arena {
  char *base, *top, *end;
} arena;

static size_t arena_round(size_t n) {
  return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

static void *arena_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  arena *a = (arena *)ud;
  char *p = (char *)ptr, *q;
  if (p == NULL)
    osize = 0;                       /* without ptr, osize is a type tag, not a size */
  else if (p < a->base || p >= a->end) {   /* not the arena's: the C library's */
    if (nsize == 0) {
      free(p);
      return NULL;
    }
    return realloc(p, nsize);
  }
  if (nsize == 0) {                  /* the last block goes back; any other stays */
    if (p + arena_round(osize) == a->top)
      a->top = p;
    return NULL;
  }
  if (p != NULL && nsize <= osize)
    return p;
  if (p != NULL && p + arena_round(osize) == a->top
      && (size_t)(a->end - p) >= arena_round(nsize)) {   /* the last block grows in place */
    a->top = p + arena_round(nsize);
    return p;
  }
  if ((size_t)(a->end - a->top) >= arena_round(nsize)) {
    q = a->top;
    a->top += arena_round(nsize);
  }
  else if ((q = (char *)malloc(nsize)) == NULL)
    return NULL;                     /* Lua collects and tries once more */
  if (p != NULL)
    memcpy(q, p, osize);             /* osize < nsize here */
  return q;
}

/* whether RIVULET_FREE_AT_EXIT asks for plain malloc and free (make memcheck) */
static int free_at_exit(void) {
  const char *e = getenv("RIVULET_FREE_AT_EXIT");
  return e != NULL && e[0] != '\0' && strcmp(e, "0") != 0;
}

/*
** The arena's block, on a transparent huge page where the kernel gives them for the asking:
** a cold run touches ~500 KB of it, and on a virtual machine each 4 KiB page is a fault of
** ~10 us (128 of them 1.6 ms), where one 2 MiB page is ~0.2 ms. The mapping is 2 MiB
** aligned (a huge page must be) and never unmapped (the process exits); without mmap, or
** when the kernel says no, it is plain pages.
*/
#define HUGE_PAGE ((size_t)2 << 20)

static char *arena_block(void) {
#if defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
  char *p = (char *)mmap(NULL, ARENA_SIZE + HUGE_PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != (char *)MAP_FAILED) {
    p += (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    (void)madvise(p, ARENA_SIZE, MADV_HUGEPAGE);   /* a hint: refused, the pages are small */
    return p;
  }
#endif
  return (char *)malloc(ARENA_SIZE);
}

/* The commands that use the arena: one execution, one delivery, one look at a file or a
** store. Not serve, repl, lua or test, which can run for long. */
static int short_lived(int argc, char **argv) {
  static const char *const names[] = { "run", "deliver", "webhook", "logs", "end", "validate",
                                       "graph", "export", "env", "version", "help", NULL };
  const char *const *n;
  if (free_at_exit())
    return 0;
  if (argc < 2)
    return 0;
  for (n = names; *n != NULL; n++)
    if (strcmp(*n, argv[1]) == 0)
      return 1;
  return 0;
}

/* Sets the arena as L's allocator when the command is short-lived; 1 if it did. */
static int use_arena(lua_State *L, int argc, char **argv) {
  static arena a;
  if (!ARENA_ON || !short_lived(argc, argv) || (a.base = arena_block()) == NULL)
    return 0;
  a.top = a.base;
  a.end = a.base + ARENA_SIZE;
  lua_setallocf(L, arena_alloc, &a);
  return 1;
}


/* ---------------------------------------------------------------- a long run's heap */

/*
** A long-running process's heap grows with what it holds: serve's by ~10 KB for every
** execution left waiting (the execution, its pages in SQLite's cache), a Lua host's running
** 10,000 executions at once by ~200 MB (theirs and libcurl's). Touched 4 KiB at a time, each
** page is a fault, ~10 us on a VM: 9 % of serve's CPU under a stream of executions.create,
** ~30 % of bench/scale's, 10,000 executions at once (bench/README.md). glibc backs its heap
** with transparent huge pages when its tunable glibc.malloc.hugetlb=1 says so, and it reads
** its tunables from GLIBC_TUNABLES once, before main: so serve and lua run themselves again,
** at once, with it set (serve: -15 % CPU a create, 16.5k page faults for 8,000 of them, ~600
** with huge pages; bench/scale: 56k faults to 1.8k, ~30 % less CPU; the cost, ~2 ms more
** at start). Not when GLIBC_TUNABLES is set already (the user's say), nor when the kernel has
** huge pages off, nor for valgrind or a sanitizer (they replace malloc). The second run takes
** both variables out again, so what it starts inherits the user's environment. When exec
** fails, the command goes on as it is. The short-lived commands have their arena on a huge
** page instead (above).
*/
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
#define HEAP_MARK "RIVULET_HUGE_HEAP"   /* set with the tunable: this run set it */

static void long_run_with_huge_pages(int argc, char **argv) {
#if defined(__GLIBC__) && defined(__linux__) && !defined(RV_SANITIZED)
  char mode[128];
  const char *pre = getenv("LD_PRELOAD");
  FILE *f;
  size_t n;
  if (getenv(HEAP_MARK) != NULL) {
    /* the second run: glibc has read its tunables, and what this process starts (a
    ** script's commands, node) gets the environment as the user gave it */
    unsetenv(HEAP_MARK);
    unsetenv("GLIBC_TUNABLES");
    return;
  }
  if (argc < 2 || (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "lua") != 0)
      || getenv("GLIBC_TUNABLES") != NULL || free_at_exit()
      || (pre != NULL && strstr(pre, "vgpreload") != NULL))
    return;
  if ((f = fopen(THP_ENABLED, "r")) == NULL)
    return;
  n = fread(mode, 1, sizeof mode - 1, f);
  fclose(f);
  mode[n] = '\0';
  if (strstr(mode, "[never]") != NULL)
    return;
  if (setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1) == 0 && setenv(HEAP_MARK, "1", 1) == 0)
    execv("/proc/self/exe", argv);
  unsetenv(HEAP_MARK);
  unsetenv("GLIBC_TUNABLES");
#else
  (void)argc;
  (void)argv;
#endif
}


/* ---------------------------------------------------------------- setup */

static int dispatch(lua_State *L, int argc, char **argv) {
  const command *c;
  const char *name;
  if (argc < 2) {
    print_usage(stderr);
    return RV_EXIT_USAGE;
  }
  name = argv[1];
  if (is_help_flag(name))
    return cmd_help(L, find_command("help"), argc, argv, 2);
  if (strcmp(name, "--version") == 0)
    return cmd_version(L, find_command("version"), argc, argv, 2);
  c = find_command(name);
  if (c == NULL) {
    fprintf(stderr, "%s: unknown %s '%s'\nRun '%s --help' for the list of commands.\n",
            PROGNAME, name[0] == '-' ? "option" : "command", name, PROGNAME);
    return RV_EXIT_USAGE;
  }
  if (argc > 2 && is_help_flag(argv[2])) {
    print_command_usage(stdout, c);
    return RV_EXIT_OK;
  }
  return c->run(L, c, argc, argv, 2);
}

/* Everything runs here, in protected mode. Returns the exit status as an integer. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  lua_settop(L, 0);
  lua_pushinteger(L, dispatch(L, argc, argv));
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L;
  rv_host_opts opts;
  int status, code;
  long_run_with_huge_pages(argc, argv);
  /* libcurl is initialised by the first HTTP client (src/http.c), which is also when it is
  ** loaded (src/curl_lazy.c): a run without HTTP never maps it */
  L = rv_host_newstate(NULL);
  if (L == NULL) {
    l_message("cannot create Lua state: not enough memory");
    return RV_EXIT_FAIL;
  }
  use_arena(L, argc, argv);
  opts.lua_path = NULL;
  opts.argv0 = argv[0];
  opts.exe_depth = 1;              /* build/rivulet -> lua/, bin/rivulet -> share/lua/5.4 */
  status = rv_host_setup(L, &opts);
  if (status == LUA_OK) {
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    status = rv_host_pcall(L, 2, 1);
  }
  if (status == LUA_OK)
    code = (int)lua_tointeger(L, -1);
  else {
    report(L, status);
    code = RV_EXIT_FAIL;
  }
  lua_close(L);   /* finalizers run (a store closes); with the arena its blocks stay */
  curl_global_cleanup();
  return code;
}
