#!/usr/bin/env python3
"""Completes command lines in a real interactive shell, as a user pressing TAB would.

    Scripts/complete-in-shell.py SHELL SETUP LINE...

SHELL is bash, zsh or fish, started interactively on a pseudo-terminal without
the user's start-up files. SETUP is shell code run first (loading the completion
under test, the way that shell's users load it). Then, for each LINE, the script
types LINE, presses TAB, and reads back the command line the shell then holds
(through a key bound to print it), and clears it. It prints one JSON array on
standard output: the command line after TAB, for each LINE in order.

Exit status 0 when every LINE was completed and read back; 1 when the shell did
not answer in time (its output is printed on standard error); 64 usage.
"""
import json
import os
import pty
import select
import sys
import time

MARK_START = "<<rvf-complete<<"
MARK_END = ">>rvf-complete>>"
TIMEOUT = 20.0

# Per shell: how to start it without start-up files, and how to bind Ctrl-T to print
# the command line between the marks (each shell's own way to read its line editor's buffer).
SHELLS = {
    "bash": (["bash", "--norc", "--noprofile", "-i"],
             "bind -x '\"\\C-t\": printf \"\\n%s%s%s\\n\" \"" + MARK_START + "\" \"$READLINE_LINE\" \"" + MARK_END + "\"'"),
    "zsh": (["zsh", "-f", "-i"],
            "rvf_show_buffer() { zle -I; print -r -- \"" + MARK_START + "${BUFFER}" + MARK_END + "\"; }; "
            "zle -N rvf_show_buffer; bindkey '^T' rvf_show_buffer; bindkey -e; setopt no_beep"),
    "fish": (["fish", "--no-config", "-i"],
             "bind \\ct 'echo; echo \"" + MARK_START + "\"(commandline)\"" + MARK_END + "\"'"),
}


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in SHELLS:
        sys.stderr.write(__doc__)
        return 64
    shell, setup, lines = sys.argv[1], sys.argv[2], sys.argv[3:]
    command, binding = SHELLS[shell]
    environment = dict(os.environ, TERM="xterm", PS1="$ ", HISTFILE="/dev/null")
    environment.pop("PROMPT_COMMAND", None)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(command[0], command, environment)
    transcript = bytearray()

    def read_until(predicate, deadline):
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                transcript.extend(chunk)
                if predicate():
                    return True
        return predicate()

    def send(text):
        os.write(fd, text.encode())

    results = []
    try:
        # Set up, then print a marker, so that what follows starts after everything setup printed.
        send(binding + "\n")
        send(setup + "\n")
        send("echo rvf-ready-$((6*7))\n" if shell != "fish" else "echo rvf-ready-(math 6 \\* 7)\n")
        if not read_until(lambda: b"rvf-ready-42" in transcript, time.monotonic() + TIMEOUT):
            raise TimeoutError("the shell did not run its setup")
        for line in lines:
            start = len(transcript)
            # Type the line, TAB, then Ctrl-T to print the line: the shell reads keys in order,
            # and completes (running whatever completion needs) before it reads the next.
            send(line + "\t\x14")
            found = lambda: MARK_END.encode() in transcript[start:]
            if not read_until(found, time.monotonic() + TIMEOUT):
                raise TimeoutError("no command line read back after completing: " + line)
            text = transcript[start:].decode("utf-8", "replace")
            begin = text.rindex(MARK_START) + len(MARK_START)
            results.append(text[begin:text.index(MARK_END, begin)])
            # Clear the line for the next one: Ctrl-A, Ctrl-K (to the start, kill to the end).
            send("\x01\x0b")
        send("exit\n")
    except TimeoutError as error:
        sys.stderr.write(f"complete-in-shell: {shell}: {error}\n--- what the shell printed:\n")
        sys.stderr.write(transcript.decode("utf-8", "replace") + "\n")
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return 1
    # Let the shell exit; kill it if it lingers.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        read_until(lambda: False, time.monotonic() + 0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
