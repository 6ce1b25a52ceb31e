#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and plays a script at it, as a person at a keyboard
would: for the specs of what only a terminal shows (the REPL's line editing, completion and
prompts; Ctrl-C in `rivulet run`).

    python3 spec/tools/pty_run.py [--timeout S] [--cwd DIR] -- COMMAND ARGS... < SCRIPT

SCRIPT is JSON: a list of steps, each one of
    {"expect": "text"}     wait until the output (since the last expect) holds text
    {"send": "text"}       type text ("\\t" is Tab, "\\u0003" Ctrl-C, "\\u0004" Ctrl-D)
    {"signal": "INT"}      send a signal to the command's process group
    {"raw": true}          wait until the command reads the terminal in raw mode (line
                           editing: libedit switches the terminal for each line it reads, and
                           what is typed before that is handled by the kernel instead)
    {"close": true}        stop typing; then wait for the command to end
Prints one JSON object: {"status": exit status or null, "signal": name or null,
"output": everything the terminal showed, "error": why the script stopped or null}.
Every wait has the deadline --timeout (default 20 s): a command that never shows what is
expected ends the script with "error" instead of hanging the suite.
"""
import json
import os
import select
import signal
import sys
import termios
import time


def main():
    args = sys.argv[1:]
    timeout, cwd = 20.0, None
    while args and args[0] != "--":
        if args[0] == "--timeout":
            timeout = float(args[1])
            args = args[2:]
        elif args[0] == "--cwd":
            cwd = args[1]
            args = args[2:]
        else:
            print("pty_run.py: unknown option " + args[0], file=sys.stderr)
            return 2
    argv = args[1:]
    if not argv:
        print("pty_run.py: no COMMAND", file=sys.stderr)
        return 2
    steps = json.load(sys.stdin)

    pid, fd = os.forkpty()
    if pid == 0:
        if cwd:
            os.chdir(cwd)
        os.environ["TERM"] = "dumb"
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)

    out = bytearray()
    mark = 0          # what the next expect looks at starts here
    error = None

    def read_some(deadline):
        remaining = max(0.0, deadline - time.monotonic())
        r, _, _ = select.select([fd], [], [], min(remaining, 0.05))
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            out.extend(chunk)
        return True

    for step in steps:
        if "expect" in step:
            want = step["expect"].encode()
            deadline = time.monotonic() + timeout
            while want not in out[mark:]:
                if time.monotonic() > deadline:
                    error = "timed out waiting for %r" % step["expect"]
                    break
                if not read_some(deadline):
                    error = "the command ended before showing %r" % step["expect"]
                    break
            if error:
                break
            mark = out.index(want, mark) + len(want)
        elif step.get("raw"):
            deadline = time.monotonic() + timeout
            while termios.tcgetattr(fd)[3] & termios.ICANON:
                if time.monotonic() > deadline:
                    error = "timed out waiting for the terminal in raw mode"
                    break
                read_some(min(deadline, time.monotonic() + 0.01))
            if error:
                break
        elif "send" in step:
            os.write(fd, step["send"].encode())
        elif "signal" in step:
            os.killpg(pid, getattr(signal, "SIG" + step["signal"]))
        elif step.get("close"):
            break

    # drain until the command ends (or the deadline: then it is killed)
    deadline = time.monotonic() + timeout
    status = sig = None
    while True:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            while read_some(time.monotonic()):
                r, _, _ = select.select([fd], [], [], 0)
                if not r:
                    break
            if os.WIFEXITED(st):
                status = os.WEXITSTATUS(st)
            else:
                sig = signal.Signals(os.WTERMSIG(st)).name
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            error = error or "the command did not end within %g s (killed)" % timeout
            break
        read_some(deadline)
    os.close(fd)
    print(json.dumps({"status": status, "signal": sig, "error": error,
                      "output": out.decode("utf-8", "replace")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
