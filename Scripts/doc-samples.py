#!/usr/bin/env python3
"""Makes the sample output in the documentation come from the tool itself.

    Scripts/doc-samples.py --update [--binary PATH]   run every sample, write it into the documents
    Scripts/doc-samples.py --check  [--binary PATH]   run every sample, fail if a document differs (CI)

A sample in a Markdown document is a fenced block right after a marker line

    <!-- sample: NAME -->

and NAME is one of the scenarios below. Each runs the real rvf-lock (the debug
build of this checkout, or --binary) in a scratch directory, with real holders
and real files, and shows the commands as typed (`$ rvf-lock ...`) with what
they printed (standard output and standard error, as a terminal shows them) and,
where it matters, their exit status.

What the documents must not carry is replaced when a sample is written: this
machine's host name becomes `build-7`. What differs from run to run (pids, ages,
timings, counts, writer ids, random names) cannot match exactly, so --check
compares with every number masked (any run of digits, hex digits and dots that
holds a digit): the words, the fields, their order and every message must be
what the tool prints today. The selftest samples depend on the machine's file
system and kernel (which checks pass, what was measured), so for them --check
compares each line's check title and the verdict's first word only.

Exit status: 0 when every document matches (--check) or was written (--update);
1 when a document differs, with the difference; 64 usage; 70 when a scenario
could not run (its error on standard error).
"""
import difflib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = ["Documentation/rvf-lock.md", "README.md"]
HOST_PLACEHOLDER = "build-7"
MARKER = re.compile(r"^<!-- sample: ([a-z0-9-]+) -->$")


class Scenario:
    """One scratch directory, the commands of a sample, and the holders it started."""

    def __init__(self, binary_directory):
        self.directory = tempfile.mkdtemp(prefix="rvf-lock-doc-sample.")
        os.chmod(self.directory, 0o755)
        self.environment = dict(os.environ, PATH=binary_directory + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        self.environment.pop("RVF_LOCK_FD", None)
        self.background = []
        self.text = []

    def shell(self, command, environment=None):
        """Runs `command` in the scratch directory; its exit status and interleaved output."""
        result = subprocess.run(["bash", "-c", command + " 2>&1"], cwd=self.directory, capture_output=True,
                                text=True, env=environment or self.environment, timeout=120)
        return result.returncode, result.stdout

    def run(self, command, show_status=False, shown=None, environment=None, keep=None):
        """Runs `command` and adds it to the sample as typed (or as `shown`), with its output."""
        status, output = self.shell(command, environment)
        if keep is not None:
            output = keep(output)
        self.text.append("$ " + (shown or command))
        if output:
            self.text.append(output.rstrip("\n"))
        if show_status:
            self.text.append("$ echo $?")
            self.text.append(str(status))
        return status

    def hold(self, data_file, seconds_before=1.0):
        """Starts `rvf-lock exec DATA_FILE sleep 120` in the background and waits until it holds the lock."""
        process = subprocess.Popen(["rvf-lock", "exec", "-q", data_file, "sleep", "120"], cwd=self.directory,
                                   env=self.environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.background.append(process)
        lock = os.path.join(self.directory, data_file + ".lock")
        deadline = time.monotonic() + 20
        while not (os.path.exists(lock) and os.path.getsize(lock) == 104):
            if time.monotonic() > deadline:
                raise RuntimeError("the holder of " + data_file + " never took its lock")
            time.sleep(0.02)
        time.sleep(seconds_before)
        return process

    def finish(self):
        for process in self.background:
            process.kill()
            process.wait()
        # A test directory left read-only by a sample must still be removable.
        for directory, _, _ in os.walk(self.directory):
            os.chmod(directory, 0o755)
        shutil.rmtree(self.directory, ignore_errors=True)
        return "\n".join(self.text)


def as_nobody(command):
    """`command` as a user who cannot write what root made (root writes everywhere)."""
    if os.geteuid() == 0:
        return "setpriv --reuid=65534 --regid=65534 --clear-groups " + command
    return command


# The scenarios, by the name the documents give them.

def status_held(s):
    s.hold("demo.rvf")
    s.run("rvf-lock status demo.rvf other.rvf", show_status=True)


def status_json(s):
    s.hold("data.rvf")
    s.run("rvf-lock status --json data.rvf other.rvf")


def exec_busy(s):
    s.hold("data.rvf")
    s.run("rvf-lock exec -n data.rvf ./append-records data.rvf", show_status=True)
    s.run("rvf-lock exec -v -w 1.5 data.rvf ./append-records data.rvf", show_status=True)


def exec_leftovers(s):
    s.run("rvf-lock exec data.rvf sh -c 'sleep 1.5 & echo started'")


def exec_shell_syntax(s):
    with open(os.path.join(s.directory, "new.rec"), "w") as file:
        file.write("a new record\n")
    s.run("rvf-lock exec data.rvf 'cat new.rec >> data.rvf'", show_status=True)
    s.run("rvf-lock exec data.rvf sh -c 'cat new.rec >> data.rvf'", show_status=True)


def lock_file_as_file(s):
    s.run("rvf-lock exec data.rvf.lock ./append-records", show_status=True)


def bad_paths(s):
    os.mkdir(os.path.join(s.directory, "srv"))
    os.mkdir(os.path.join(s.directory, "readonly"))
    os.chmod(os.path.join(s.directory, "readonly"), 0o555)
    s.run("rvf-lock exec srv -- ./append", show_status=True)
    s.run(as_nobody("rvf-lock exec readonly/data.rvf -- ./append"), show_status=True,
          shown="rvf-lock exec readonly/data.rvf -- ./append")


def selftest_tmpfs(s):
    s.run("rvf-lock selftest /dev/shm", show_status=True)


def selftest_flock_excludes_nothing(s):
    source = os.path.join(s.directory, "noflock.c")
    with open(source, "w") as file:
        file.write("int flock(int d, int o) { (void)d; (void)o; return 0; }\n")
    compiler = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc, clang, gcc) to build the flock shim")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", os.path.join(s.directory, "noflock.so"), source], check=True)
    os.mkdir(os.path.join(s.directory, "fuse-like"))

    def failures_and_verdict(output):
        # Passing lines are left out, as the document says.
        kept, skipped = [], False
        for line in output.splitlines():
            if line.startswith("ok "):
                if not skipped:
                    kept.append("...")
                skipped = True
            else:
                kept.append(line)
                skipped = False
        return "\n".join(kept) + "\n"

    s.run("LD_PRELOAD=./noflock.so rvf-lock selftest -s 2 fuse-like", show_status=True, keep=failures_and_verdict)


SCENARIOS = {
    "status-held": (status_held, "masked"),
    "status-json": (status_json, "masked"),
    "exec-busy": (exec_busy, "masked"),
    "exec-leftovers": (exec_leftovers, "masked"),
    "exec-shell-syntax": (exec_shell_syntax, "masked"),
    "lock-file-as-file": (lock_file_as_file, "masked"),
    "bad-paths": (bad_paths, "masked"),
    "selftest-tmpfs": (selftest_tmpfs, "titles"),
    "selftest-flock-excludes-nothing": (selftest_flock_excludes_nothing, "titles"),
}


def without_host(text):
    for name in {socket.gethostname(), socket.gethostname().split(".")[0]}:
        if name:
            text = re.sub(r"\b" + re.escape(name) + r"\b", HOST_PLACEHOLDER, text)
    return text


def masked(text):
    """The text with every number (digits, hex digits, dots, holding a digit) replaced by #."""
    return re.sub(r"[0-9a-fA-F.]*[0-9][0-9a-fA-F.]*", "#", text)


def titles(text):
    """Each line's check title (between the result column and the first colon), and the verdict's first word."""
    shown = []
    for line in text.splitlines():
        if line.startswith("verdict: "):
            shown.append("verdict: " + line.split()[1])
        elif line.startswith("$ ") or line == "...":
            shown.append(masked(line))
        elif ":" in line and line[:13].strip() in ("ok", "FAILED", "not available"):
            shown.append(line[14:].split(":")[0])
    return "\n".join(shown)


def blocks(document):
    """(name, first line, last line) of each sample block: the lines between the fences."""
    lines = document.split("\n")
    found = []
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        if index + 1 >= len(lines) or not lines[index + 1].startswith("```"):
            raise ValueError(f"the sample marker for {match.group(1)} is not followed by a fenced block")
        end = index + 2
        while end < len(lines) and lines[end] != "```":
            end += 1
        found.append((match.group(1), index + 2, end))
    return lines, found


def main():
    arguments = sys.argv[1:]
    if not arguments or arguments[0] not in ("--update", "--check"):
        sys.stderr.write(__doc__)
        return 64
    mode = arguments[0]
    binary = None
    if len(arguments) == 3 and arguments[1] == "--binary":
        binary = os.path.abspath(arguments[2])
    elif len(arguments) != 1:
        sys.stderr.write(__doc__)
        return 64
    if binary is None:
        subprocess.run(["swift", "build", "--product", "rvf-lock"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        bin_path = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout.strip()
        binary = os.path.join(bin_path, "rvf-lock")

    generated = {}
    differences = 0
    for relative in DOCUMENTS:
        path = os.path.join(ROOT, relative)
        with open(path) as file:
            lines, found = blocks(file.read())
        for name, first, end in reversed(found):
            if name not in SCENARIOS:
                sys.stderr.write(f"doc-samples: {relative} names an unknown sample {name}\n")
                return 64
            scenario, comparison = SCENARIOS[name]
            if name not in generated:
                state = Scenario(os.path.dirname(binary))
                try:
                    scenario(state)
                except Exception as error:  # the scenario's own failure, reported as such
                    state.finish()
                    sys.stderr.write(f"doc-samples: the sample {name} could not run: {error}\n")
                    return 70
                generated[name] = without_host(state.finish())
            current = "\n".join(lines[first:end])
            if mode == "--update":
                lines[first:end] = generated[name].split("\n")
            else:
                compare = masked if comparison == "masked" else titles
                if compare(current) != compare(generated[name]):
                    differences += 1
                    sys.stdout.write(f"doc-samples: {relative}, sample {name}, is not what the tool prints "
                                     f"(compared {comparison}; run Scripts/doc-samples.py --update):\n")
                    sys.stdout.writelines(difflib.unified_diff(
                        compare(current).splitlines(True), compare(generated[name]).splitlines(True),
                        "document", "tool"))
                    sys.stdout.write("\n")
        if mode == "--update":
            with open(path, "w") as file:
                file.write("\n".join(lines))
    if mode == "--update":
        print(f"doc-samples: wrote {len(generated)} samples into {', '.join(DOCUMENTS)}")
        return 0
    if differences:
        print(f"doc-samples: {differences} samples differ from what the tool prints")
        return 1
    print(f"doc-samples: {len(generated)} samples are what the tool prints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
