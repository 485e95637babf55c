#!/usr/bin/env python3
"""Paired, interleaved runs for ci/bench-real.sh: round r runs every command once (the order
rotates each round), recording wall time and the child's CPU (user + sys, from getrusage of reaped children). Prints
per-command medians, the median of the per-round ratios against the first command, and, for
commands whose stdout is mailtrip JSON, the median of each phase.

usage: paired.py ROUNDS NAME=COMMAND [NAME=COMMAND ...]   (COMMAND runs under sh -c)
Writes a JSON summary to $PAIRED_JSON when set."""
import json, os, resource, statistics, subprocess, sys, time

rounds = int(sys.argv[1])
cmds = [a.split("=", 1) for a in sys.argv[2:]]
wall = {n: [] for n, _ in cmds}
cpu = {n: [] for n, _ in cmds}
phases = {n: {} for n, _ in cmds}
failed = {n: 0 for n, _ in cmds}

def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()  # reaps the child: its CPU shows in RUSAGE_CHILDREN
    dt = time.perf_counter() - t0
    return dt, out, err, p.returncode

for r in range(rounds):
    order = cmds[r % len(cmds):] + cmds[: r % len(cmds)]
    for name, cmd in order:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        dt, out, err, rc = run(cmd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if rc != 0:
            failed[name] += 1
            sys.stderr.write(f"paired: {name} exited {rc}: {err.decode(errors='replace')[-400:]}\n")
            continue
        wall[name].append(dt * 1000)
        cpu[name].append(used * 1000)
        try:
            report = json.loads(out)
            for p in report.get("phases", []):
                phases[name].setdefault(p["name"], []).append(p["ms"])
        except (ValueError, AttributeError):
            pass

med = lambda xs: statistics.median(xs) if xs else float("nan")
first = cmds[0][0]
summary = {}
for name, _ in cmds:
    w, c = wall[name], cpu[name]
    ratios = [b / a for a, b in zip(wall[first], w)] if name != first else []
    summary[name] = {
        "runs": len(w), "failed": failed[name],
        "wall_ms": med(w), "wall_p90_ms": sorted(w)[int(0.9 * (len(w) - 1))] if w else None,
        "cpu_ms": med(c),
        "phases_ms": {k: med(v) for k, v in phases[name].items()},
    }
    line = f"{name:<24} runs {len(w):>3}  wall median {med(w):8.1f} ms  CPU median {med(c):7.1f} ms"
    if failed[name]:
        line += f"  ({failed[name]} failed)"
    print(line)
    if phases[name]:
        print("    phases (median ms): " + ", ".join(f"{k} {med(v):.1f}" for k, v in phases[name].items()))
for name, _ in cmds[1:]:
    n = min(len(wall[first]), len(wall[name]))
    paired = [b / a for a, b in zip(wall[first][:n], wall[name][:n])]
    summary[name]["ratio_vs_" + first] = med(paired)
    print(f"paired ratio {name} / {first}: {med(paired):.2f}x (median of {n} rounds)")
if os.environ.get("PAIRED_JSON"):
    with open(os.environ["PAIRED_JSON"], "w") as f:
        json.dump(summary, f, indent=1)
