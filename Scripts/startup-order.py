#!/usr/bin/env python3
"""Keeps the code and data that rvf-lock's runs touch together in its binary.

    Scripts/startup-order.py --update   profile rvf-lock, write Scripts/rvf-lock.order
    Scripts/startup-order.py --check    fail if the order names symbols the code lost (CI)

Why: a run of `rvf-lock exec -n FILE true` touches about 1,000 functions and 550
variables spread over a 16 MB program. The kernel maps a program's pages as it
first touches them, one page fault for each 64 KB of code (by default it maps
the cached neighbours of a page within 64 KB at the same time) and one for each
4 KB of variables, and every page it mapped costs again when the process forks
and exits. README.md's
install links rvf-lock with lld and `--symbol-ordering-file=Scripts/rvf-lock.order`:
the sections of the symbols this file names come first in their part of the
program, in the order they were first touched, so that those runs find them on
a few pages (the Swift compiler's `-function-sections` gives each function of
this package its own section; the Swift runtime and glibc come that way).

--update builds rvf-lock as README.md installs it but keeping its symbols (in
.build-startup-order), runs the scenarios below under valgrind's lackey, which
reports every instruction and every load and store, and writes the symbols at
those addresses to Scripts/rvf-lock.order in the order they were first reached.
Needs valgrind and binutils (nm, strip). Run it after changing what the tool
does when it starts, takes the lock or runs a command; the order only moves
code, so a stale one makes rvf-lock slower, never wrong.

--check makes sure the order has not gone stale: every symbol it names must
still be defined by what README.md's install links (the object files of
.build/release/rvf-lock.product and the static libraries of the Swift toolchain
and glibc); it fails when more than a tenth are gone. Run it after
Scripts/check-install.sh, which makes that build. Needs nm.

Exit status: 0 written or current; 1 stale (--check); 64 usage; 70 a build,
a tool or a scenario failed.
"""
import bisect
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = os.path.join(ROOT, "Scripts", "rvf-lock.order")
SCRATCH = os.path.join(ROOT, ".build-startup-order")
# The largest share of the order's symbols that may be missing from the build
# before --check calls it stale.
STALE_SHARE = 0.10
HEADER = """\
# The symbols that runs of rvf-lock touch, in the order they first touched them:
# README.md's install links rvf-lock with lld and --symbol-ordering-file=THIS,
# which puts their sections first. Written by Scripts/startup-order.py --update
# (see there for why and when); lines starting with '#' are comments to lld.
"""


def fail(message, status=70):
    print(f"startup-order: {message}", file=sys.stderr)
    sys.exit(status)


def run(arguments, **options):
    completed = subprocess.run(arguments, text=True, capture_output=True, **options)
    if completed.returncode != 0:
        fail(f"{' '.join(arguments)} exited with {completed.returncode}:\n{completed.stderr}")
    return completed.stdout


def install_commands():
    """The swift build command of README.md's "Install rvf-lock", as arguments."""
    commands = run([os.path.join(ROOT, "Scripts", "check-install.sh"), "--print-commands"])
    command = commands.replace("\\\n", " ").splitlines()[0]
    if not command.startswith("swift build "):
        fail(f"README.md's install commands do not start with a swift build command: {command}")
    return command.split()


def build_with_symbols():
    """rvf-lock built as README.md installs it, symbols kept, debug information dropped."""
    install = install_commands()
    arguments = []
    for index, argument in enumerate(install):
        if argument == "--strip-all" or install[index + 1:index + 2] == ["--strip-all"]:
            continue
        arguments.append(argument)
    arguments += ["--scratch-path", SCRATCH]
    print("startup-order: building:", " ".join(arguments), file=sys.stderr)
    if subprocess.run(arguments, cwd=ROOT).returncode != 0:
        fail("the build failed")
    bin_path = run(arguments + ["--show-bin-path"], cwd=ROOT).strip()
    # valgrind cannot read the DWARF 5 that this compiler writes; it needs only the symbols.
    profiled = os.path.join(SCRATCH, "rvf-lock.profiled")
    run(["strip", "--strip-debug", "-o", profiled, os.path.join(bin_path, "rvf-lock")])
    return profiled


def profile(binary, logs):
    """Runs the scenarios under lackey; each process's trace goes to a file in logs."""
    data = os.path.join(logs, "data")
    open(data, "w").close()
    lackey = [
        "valgrind", "--tool=lackey", "--trace-mem=yes", "--trace-children=yes",
        "--trace-children-skip=*/true,*/sleep",
    ]

    def traced(name, *arguments):
        log = os.path.join(logs, f"{name}.%p.trace")
        return subprocess.Popen(
            lackey + [f"--log-file={log}", binary, *arguments],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def finished(name, process, status=0):
        _, errors = process.communicate()
        if process.returncode != status:
            fail(f"{name}: rvf-lock {' '.join(process.args[len(lackey) + 2:])} exited with "
                 f"{process.returncode}, not {status}:\n{errors}")

    # The path that matters most first: the lock free, taken at once. Only exec:
    # the other commands go through ArgumentParser, whose reflection touches
    # four times as many symbols (`status`: 6,800) and costs instructions more
    # than page faults.
    finished("exec, free", traced("1-exec-free", "exec", "-n", data, "--", "true"))
    # Then with a holder (not traced): busy at once, then waited for until the
    # holder is stopped.
    holder = subprocess.Popen([binary, "exec", data, "--", "sleep", "600"])
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(data + ".lock"):
            if time.monotonic() > deadline:
                fail("the holder never took the lock")
            time.sleep(0.01)
        finished("exec, busy", traced("2-exec-busy", "exec", "-n", data, "--", "true"), status=75)
        waiter = traced("3-exec-wait", "exec", "-w", "60", data, "--", "true")
        # Long enough for the waiter to start under valgrind and queue.
        time.sleep(5)
        holder.terminate()
        finished("exec, waited", waiter)
    finally:
        holder.kill()
        holder.wait()


def symbols_by_first_touch(binary, logs):
    table = []
    for line in run(["nm", "-n", "-S", "--defined-only", binary]).splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwWdDbBrRvV":
            table.append((int(fields[0], 16), max(int(fields[1], 16), 1), fields[3]))
    starts = [entry[0] for entry in table]
    low, high = table[0][0], table[-1][0] + table[-1][1]
    access = re.compile(r"^(?:I| [LSM]) +([0-9a-f]+),")
    seen, order = set(), []
    for trace in sorted(glob.glob(os.path.join(logs, "*.trace"))):
        with open(trace) as lines:
            for line in lines:
                match = access.match(line)
                if not match:
                    continue
                address = int(match.group(1), 16)
                if not low <= address < high:
                    continue
                index = bisect.bisect_right(starts, address) - 1
                start, size, name = table[index]
                if address < start + size and name not in seen:
                    seen.add(name)
                    order.append(name)
    return order


def update():
    for tool in ("valgrind", "nm", "strip"):
        if shutil.which(tool) is None:
            fail(f"{tool} is missing (apt-get install valgrind binutils)")
    binary = build_with_symbols()
    with tempfile.TemporaryDirectory(prefix="rvflock-startup-order-") as logs:
        profile(binary, logs)
        order = symbols_by_first_touch(binary, logs)
    if len(order) < 100:
        fail(f"only {len(order)} symbols were touched: the traces are not of rvf-lock")
    with open(ORDER, "w") as file:
        file.write(HEADER + "\n".join(order) + "\n")
    print(f"startup-order: wrote {len(order)} symbols to {os.path.relpath(ORDER, ROOT)}")
    # SwiftPM does not know that the link reads the order, so it would not link
    # again for a new one; without its product it must.
    installed_build = os.path.join(ROOT, ".build", "release", "rvf-lock")
    if os.path.exists(installed_build):
        os.remove(installed_build)
        print(f"startup-order: removed {os.path.relpath(installed_build, ROOT)}, "
              "so that the next install links it with the new order")


def linked_symbols():
    """Every symbol defined by what README.md's install links, from its last build."""
    bin_path = os.path.join(ROOT, ".build", "release")
    objects_list = os.path.join(bin_path, "rvf-lock.product", "Objects.LinkFileList")
    if not os.path.exists(objects_list):
        fail(f"no {os.path.relpath(objects_list, ROOT)}: run Scripts/check-install.sh first")
    inputs = [line.strip().strip("'\"") for line in open(objects_list) if line.strip()]
    # The Swift runtime's static libraries, and the C libraries and start files
    # that the static link takes from the system.
    target = run(["swiftc", "-print-target-info"])
    runtime = re.search(r'"runtimeResourcePath"\s*:\s*"([^"]+)"', target)
    if runtime:
        static = os.path.join(runtime.group(1) + "_static", "linux")
        inputs += glob.glob(os.path.join(static, "*.a")) + glob.glob(os.path.join(static, "*", "swiftrt.o"))
    # (libm.a is a linker script naming libm-VERSION.a.)
    inputs += glob.glob("/usr/lib/*-linux-gnu/libc.a") + glob.glob("/usr/lib/*-linux-gnu/libm-*.a")
    inputs += glob.glob("/usr/lib/*-linux-gnu/libpthread.a")
    inputs += glob.glob("/usr/lib/*-linux-gnu/crt*.o") + glob.glob("/usr/lib/gcc/*-linux-gnu/*/crt*.o")
    inputs += glob.glob("/usr/lib/gcc/*-linux-gnu/*/lib*.a")
    defined = set()
    for start in range(0, len(inputs), 200):
        out = subprocess.run(["nm", "--defined-only", *inputs[start:start + 200]],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 3:
                defined.add(fields[2])
    return defined


def check():
    if shutil.which("nm") is None:
        fail("nm is missing (apt-get install binutils)")
    wanted = [line.strip() for line in open(ORDER) if line.strip() and not line.startswith("#")]
    defined = linked_symbols()
    missing = [name for name in wanted if name not in defined]
    share = len(missing) / max(len(wanted), 1)
    print(f"startup-order: {len(wanted) - len(missing)} of the {len(wanted)} symbols in "
          f"{os.path.relpath(ORDER, ROOT)} are defined by the build; {len(missing)} are gone")
    if share > STALE_SHARE:
        print("startup-order: the order is stale, so rvf-lock starts slower than it could; "
              "run Scripts/startup-order.py --update. Gone, for example:", file=sys.stderr)
        for name in missing[:10]:
            print(f"  {name}", file=sys.stderr)
        sys.exit(1)


def main():
    if sys.argv[1:] == ["--update"]:
        update()
    elif sys.argv[1:] == ["--check"]:
        check()
    else:
        print(__doc__.strip().split("\n\n")[0], file=sys.stderr)
        sys.exit(64)


if __name__ == "__main__":
    main()
