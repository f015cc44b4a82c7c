#!/usr/bin/env bash
# rvf-lock exec --etcd beside its anchor, `etcdctl lock NAME COMMAND`, on one
# 3-member etcd cluster of its own on 127.0.0.1 (data on tmpfs):
#   - acquire + release, uncontended: a whole `rvf-lock exec --etcd FILE true`
#     against `etcdctl lock NAME true` (hyperfine when installed, else timed runs);
#   - contention: N processes each looping one tool for S seconds, the command
#     logging its start and end: acquisitions per second, handoff (one command's
#     end to the next one's start) p50 and p99, least / most served. The S
#     seconds come in rounds, the tools taking turns in a rotating order, so that
#     a change of the machine's load falls on every tool alike. Beside them, the
#     share of handoffs of 30 ms or more (etcd catches a watch that starts at a
#     past revision up every 100 ms) and how busy the machine's CPUs were in each
#     tool's rounds (a faster tool keeps them busier, which slows each handoff).
# rvf-lock-etcd sends every request to the first endpoint it is given that answers,
# and a follower passes a write on to the leader and tells its watches of a change
# only after the leader has told it of the commit. Named leader first or a follower
# first (three interleaved runs of one build), rvf-lock's handoff p50 was 1.15x
# against 1.20x, 1.05x against 1.12x, 0.97x against 1.07x etcdctl's. So each round
# names the members to rvf-lock starting with the next one (in a full run, each
# first in a third of the rounds), as the order in a user's RVF_LOCK_ETCD may fall;
# etcdctl spreads its requests over all of them.
# rvf-lock's side includes the lock file (taken after the lease) and the fencing
# token (RVF_LOCK_FENCE); a third row adds `rvf-lock-etcd fence` around the
# command, which stamps the token on the data file.
#
#   Scripts/bench-etcd.sh [quick|full]
#
# full: what users install (rvf-lock as README.md says, through
# Scripts/check-install.sh, as Scripts/bench.sh measures it; rvf-lock-etcd as
# Documentation/rvf-lock-etcd.md says, in .build/release beside it), 4 processes for 60 s
# per tool in 12 rounds of 5 s (handoff p50 moved by 0.1x etcdctl's between runs of
# 20 s), 300 uncontended runs; writes Benchmarks/results/etcd-latest.md.
# quick (CI): the debug binaries of `swift build`, 3 processes for 2 s in one round,
# 10 runs, results on standard output only; it checks that everything runs,
# nothing about speed.
# Needs etcd, etcdctl and python3. Exits non-zero only when a tool breaks.
set -euo pipefail
profile="${1:-quick}"
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$profile" in
  quick)
    swift build --package-path "$root" --product rvf-lock >&2
    swift build --package-path "$root" --product rvf-lock-etcd >&2
    bin="$(swift build --package-path "$root" --show-bin-path)"
    processes=3 seconds=2 rounds=1 runs=10 output=""
    ;;
  full)
    # What users install: rvf-lock as README.md's "Install rvf-lock" says (statically
    # linked), rvf-lock-etcd as Documentation/rvf-lock-etcd.md says (the same build
    # line with the other product, into the same folder), side by side.
    "$root/Scripts/check-install.sh" --prefix "$root/.build/installed" >&2
    release=(-c release --package-path "$root" -Xswiftc -static-executable -Xlinker --strip-all
      -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
      -Xswiftc -use-ld=lld -Xswiftc -Xfrontend -Xswiftc -function-sections)
    swift build "${release[@]}" --product rvf-lock-etcd >&2
    bin="$(mktemp -d /dev/shm/rvflock-bench-etcd-bin-XXXXXX)"
    cp "$root/.build/installed/bin/rvf-lock" "$(swift build "${release[@]}" --show-bin-path)/rvf-lock-etcd" "$bin/"
    processes=4 seconds=60 rounds=12 runs=300 output="$root/Benchmarks/results/etcd-latest.md"
    ;;
  *) echo "usage: $0 [quick|full]" >&2; exit 64 ;;
esac

work=$(mktemp -d /dev/shm/rvflock-bench-etcd-XXXXXX)
cluster="$work/cluster"
endpoints=$("$root/Scripts/etcd-cluster.sh" start "$cluster")
trap '"$root/Scripts/etcd-cluster.sh" stop "$cluster"; rm -rf "$work"; if [ "$profile" = full ]; then rm -rf "$bin"; fi' EXIT
export ETCDCTL_API=3 RVF_LOCK_ETCD="$endpoints" PATH="$bin:$PATH"

python3 - "$bin" "$endpoints" "$work" "$processes" "$seconds" "$rounds" "$runs" "$output" <<'PY'
import os, shutil, statistics, subprocess, sys, time, json
bin_dir, endpoints, work, processes, seconds, rounds, runs, output = sys.argv[1:9]
processes, seconds, rounds, runs = int(processes), float(seconds), int(rounds), int(runs)
rvf_lock = os.path.join(bin_dir, "rvf-lock")
fence = os.path.join(bin_dir, "rvf-lock-etcd")
data = os.path.join(work, "data.rvf")
open(data, "a").close()
etcdctl = ["etcdctl", "--endpoints", endpoints, "lock"]
lines = []
def say(text=""):
    print(text, flush=True)
    lines.append(text)

def uncontended(name, command):
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        out = os.path.join(work, "hyperfine.json")
        subprocess.run([hyperfine, "-N", "--warmup", "5", "--runs", str(runs), "--export-json", out,
                        " ".join(command)], check=True, stdout=subprocess.DEVNULL)
        times = json.load(open(out))["results"][0]["times"]
    else:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(command, check=True)
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99) - 1] * 1000

say(f"# rvf-lock exec --etcd beside etcdctl lock ({time.strftime('%Y-%m-%d')}, 3 etcd members on 127.0.0.1, data on tmpfs)")
say()
say(f"Uncontended acquire + release, whole command, {runs} runs:")
say()
say("| tool | p50 ms | p99 ms |")
say("|---|---|---|")
rows = [("etcdctl lock NAME true", etcdctl + ["bench-uncontended", "true"]),
        ("rvf-lock exec --etcd FILE true", [rvf_lock, "exec", data, "true"]),
        ("rvf-lock exec FILE true (no etcd)", [rvf_lock, "exec", data + ".plain", "true"])]
env_plain = dict(os.environ)
for name, command in rows:
    if "no etcd" in name:
        saved = os.environ.pop("RVF_LOCK_ETCD")
    p50, p99 = uncontended(name, command)
    if "no etcd" in name:
        os.environ["RVF_LOCK_ETCD"] = saved
    say(f"| `{name}` | {p50:.2f} | {p99:.2f} |")

# Contention: each process loops its tool for one round; the command (a small
# shell script) logs its start and end with a timestamp, and nothing else. A
# round's handoffs, holds and counts add to the tool's totals.
def cpu_times():
    """The machine's busy and idle time so far (USER_HZ ticks, from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, idle

def contend(label, build, round_seconds, totals):
    log = os.path.join(work, f"log-{label}-{len(totals['rounds'])}")
    busy_before, idle_before = cpu_times()
    open(log, "w").close()
    script = os.path.join(work, f"hold-{label}.sh")
    with open(script, "w") as f:
        f.write(f'echo "S $1 $(date +%s%N)" >> {log}\necho "E $1 $(date +%s%N)" >> {log}\n')
    end = time.time() + round_seconds
    loops = []
    for index in range(processes):
        command = build(script, str(index))
        loop = f"while [ $(date +%s%N) -lt {int(end * 1e9)} ]; do {command} >/dev/null 2>>{log}.errors || echo failed >> {log}.failures; done"
        loops.append(subprocess.Popen(["bash", "-c", loop]))
    for loop in loops:
        loop.wait()
    busy_after, idle_after = cpu_times()
    totals["busy"] += busy_after - busy_before
    totals["idle"] += idle_after - idle_before
    events = [line.split() for line in open(log) if line.strip()]
    if os.path.exists(log + ".failures"):
        totals["failures"] += sum(1 for _ in open(log + ".failures"))
    holder, last_end = None, None
    for kind, who, ns in events:
        ns = int(ns)
        if kind == "S":
            if holder is not None:
                totals["overlaps"] += 1
            holder = who
            totals["holds"] += 1
            totals["counts"][who] = totals["counts"].get(who, 0) + 1
            if last_end is not None:
                totals["handoffs"].append((ns - last_end) / 1e6)
        else:
            holder = None
            last_end = ns
    totals["rounds"].append(round_seconds)

def summary(totals):
    handoffs = sorted(totals["handoffs"])
    served = [totals["counts"].get(str(i), 0) for i in range(processes)]
    return {
        "rate": totals["holds"] / sum(totals["rounds"]), "p50": handoffs[len(handoffs) // 2] if handoffs else float("nan"),
        "p99": handoffs[int(len(handoffs) * 0.99) - 1] if handoffs else float("nan"),
        "fair": min(served) / max(served) if max(served) else 0, "overlaps": totals["overlaps"],
        "failures": totals["failures"], "holds": totals["holds"],
        "slow": sum(1 for h in handoffs if h >= 30) / len(handoffs) if handoffs else float("nan"),
        "busy": totals["busy"] / max(1, totals["busy"] + totals["idle"]),
    }

say()
say(f"Contention, {processes} processes looping for {seconds:g} s each, in {rounds} round{'s' if rounds > 1 else ''} "
    f"of {seconds / rounds:g} s, the tools taking turns (the command: `sh` logging two `date` timestamps); "
    f"each round names the members to rvf-lock starting with the next one:")
say()
say("| tool | acquisitions/s | handoff p50 ms | handoff p99 ms | handoffs of 30 ms or more | least / most served | overlaps | failed runs | CPU busy |")
say("|---|---|---|---|---|---|---|---|---|")
tools = [
    ("etcdctl", "etcdctl lock NAME sh CMD", lambda script, index: " ".join(etcdctl + ["bench-contended", "sh", script, index])),
    ("rvf", "rvf-lock exec --etcd FILE sh CMD", lambda script, index: f"{rvf_lock} exec {data} sh {script} {index}"),
    ("rvf-fence", "rvf-lock exec --etcd FILE rvf-lock-etcd fence FILE -- sh CMD",
     lambda script, index: f"{rvf_lock} exec {data} {fence} fence {data} -- sh {script} {index}"),
]
totals = {label: {"holds": 0, "handoffs": [], "counts": {}, "overlaps": 0, "failures": 0, "rounds": [], "busy": 0, "idle": 0}
          for label, _, _ in tools}
members = endpoints.split(",")
for round_index in range(rounds):
    # Rotate who goes first, so that no tool always follows the same one, and which
    # member rvf-lock names first (see the top of this script).
    turn = tools[round_index % len(tools):] + tools[:round_index % len(tools)]
    first = round_index % len(members)
    os.environ["RVF_LOCK_ETCD"] = ",".join(members[first:] + members[:first])
    for label, _, build in turn:
        contend(label, build, seconds / rounds, totals[label])
os.environ["RVF_LOCK_ETCD"] = endpoints
results = {}
for label, name, _ in tools:
    r = results[label] = summary(totals[label])
    say(f"| `{name}` | {r['rate']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['slow']:.1%} | {r['fair']:.2f} | {r['overlaps']} "
        f"| {r['failures']} | {r['busy']:.0%} |")
say()
e, r = results["etcdctl"], results["rvf"]
if e["rate"] > 0 and e["p50"] > 0:
    say(f"rvf-lock exec --etcd against etcdctl lock: throughput {r['rate'] / e['rate']:.2f}x (goal >= 1), "
        f"handoff p50 {r['p50'] / e['p50']:.2f}x (goal <= 1.2)")
failed = sum(results[k]["failures"] for k in results)
if failed:
    print(f"bench-etcd.sh: {failed} runs failed; see {work}/log-*.errors", file=sys.stderr)
if output:
    with open(output, "w") as f:
        f.write("\n".join(lines) + "\n")
if any(results[k]["overlaps"] for k in ("rvf", "rvf-fence")):
    sys.exit("overlaps under rvf-lock exec --etcd")
if any(results[k]["holds"] == 0 for k in results):
    sys.exit("a tool never held the lock: " + ", ".join(k for k in results if results[k]["holds"] == 0))
PY
