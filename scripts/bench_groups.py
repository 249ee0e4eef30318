#!/usr/bin/env python3
"""Consumer-group timing (issue 17): this library against librdkafka 2.16, the classic
protocol against KIP-848's consumer protocol, on librdkafka 2.16's mock cluster.

Two measures per cell (client x protocol):

  first  subscribe -> first record of a lone member in a new group (from the moment the
         member's subscribe call returned);
  join   member A alone and consuming, then member B (same client, same protocol) starts:
         from B's subscribe until the group is settled (A and B each hold their final
         partitions: B its share, A done revoking -- and, eager, done getting its kept
         partitions back), until B's first record, and the longest gap in A's records on
         the partitions it kept.

Cells: classic with each client's default assignors (ours: range,cooperative-sticky, i.e.
eager range; librdkafka: range,roundrobin, eager range), classic with cooperative-sticky,
and group.protocol=consumer. Every run uses a new group; the two clients alternate.

Normally run through `bash scripts/bench.sh --groups`, which builds the launcher against
the confluent-kafka wheel's librdkafka 2.16 and the example first. Outputs
bench/results/groups/{groups.md,groups.json}; every member's event lines and log (ours at
debug level through GROUP_TIMING_LOG, librdkafka's with debug=cgrp,fetch) go to
target/bench-groups/logs/.

    scripts/bench_groups.py                 # 5 runs per cell
    scripts/bench_groups.py --runs 1 --cells consumer    # quick
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (EventChild, MockCluster, fmt, median, proc_cpu_s,  # noqa: E402
                   system_busy_s, wait_for, wait_quiet)

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "bench-groups"
OURS = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release" / "examples" / "group_timing"
THEIRS = ROOT / "bench" / "group_timing.py"
PRODUCER = ROOT / "bench" / "steady_produce.py"
RESULTS = ROOT / "bench" / "results" / "groups"
CLIENTS = ["ours", "librdkafka"]
# cell -> (group.protocol, extra properties for both clients)
CELLS = {
    "classic-default": ("classic", {}),
    "classic-cooperative": ("classic", {"partition.assignment.strategy": "cooperative-sticky"}),
    "consumer": ("consumer", {}),
}
# What librdkafka 2.16's mock misparses (tests/src/mock_cluster.rs, V2_16_CAPS):
# JoinGroup v6+, SyncGroup v4+, LeaveGroup v3+.
V2_16_CAPS = [(11, 5), (14, 3), (13, 2)]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    ap.add_argument("--cells", default=",".join(CELLS), help="comma-separated, of: " + ",".join(CELLS))
    ap.add_argument("--measures", default="first,join")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--up-front", type=int, default=1000, help="records per partition produced before")
    ap.add_argument("--rate", type=float, default=100.0,
                    help="records/s per partition produced throughout (A's gaps, B's first record)")
    ap.add_argument("--rebalance-delay-ms", type=int, default=0,
                    help="the mock's group.initial.rebalance.delay.ms (classic, first join of a group)")
    ap.add_argument("--heartbeat-ms", type=int, default=3000,
                    help="the mock's group.consumer.heartbeat.interval.ms (KIP-848)")
    ap.add_argument("--consumer-session-ms", type=int, default=45000,
                    help="the mock's group.consumer.session.timeout.ms (KIP-848)")
    ap.add_argument("--session-timeout-ms", type=int, default=6000,
                    help="classic cells: session.timeout.ms of both clients (0: the clients' "
                         "defaults, 45 s; the mock then holds every classic join for 44 s)")
    ap.add_argument("--busy-limit", type=float, default=1.2,
                    help="a run during which other processes kept more CPUs busy is redone")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--render", action="store_true",
                    help="only write groups.md again from the groups.json in --out")
    return ap.parse_args()


class Member(EventChild):
    """One group_timing process (ours or librdkafka's) and its event lines."""

    def __init__(self, who, name, bootstrap, topic, group, protocol, props, log_dir):
        extra = [f"{k}={v}" for k, v in props.items()]
        if who == "ours":
            cmd = [str(OURS), bootstrap, topic, group, "--protocol", protocol] + extra
        else:
            cmd = [sys.executable, str(THEIRS), bootstrap, topic, group, "--protocol", protocol] + extra
        env = dict(os.environ)
        env.setdefault("GROUP_TIMING_LOG", "debug")
        env.setdefault("GROUP_TIMING_DEBUG", "cgrp,fetch")
        self.name, self.who = name, who
        super().__init__(cmd, env, log_dir / f"{group}-{name}.stderr.log", "stop",
                         out_path=log_dir / f"{group}-{name}.jsonl")

    def first(self, name):
        return next((e for e in self.snapshot() if e["event"] == name), None)

    def owned(self):
        """The partitions owned, as of the last move before closing (close revokes all)."""
        own = []
        for e in self.snapshot():
            if e["event"] == "closing":
                break
            if e["event"] in ("assigned", "revoked", "lost"):
                own = e["owned"]
        return own

    def counts(self):
        """Records read per partition ("0": n), as of the last `counts` line."""
        last = {}
        for e in self.snapshot():
            if e["event"] == "counts":
                last = e["counts"]
        return last

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid) or 0.0

    def stop(self, timeout=40):
        return super().stop(timeout)




class Load:
    """CPUs kept busy by other processes than ours (mock, producer, members) over a run."""

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn
        self.t0, self.busy0, self.own0 = time.monotonic(), system_busy_s(), self._own()

    def _own(self):
        return sum(proc_cpu_s(p) or 0.0 for p in self.pids_fn())

    def other_cpus(self, own_extra=0.0):
        busy1, own1 = system_busy_s(), self._own() + own_extra
        if None in (self.busy0, busy1):
            return None
        return max(0.0, (busy1 - self.busy0) - (own1 - self.own0)) / max(1e-3, time.monotonic() - self.t0)


def run_first(ctx, cell, who, run_no):
    protocol, props = CELLS[cell]
    props = dict(props, **ctx.classic_props) if protocol == "classic" else dict(props)
    group = f"first-{cell}-{who}-{run_no}"
    res = {"measure": "first", "cell": cell, "client": who, "run": run_no, "group": group}
    load = Load(lambda: [ctx.cluster.proc.pid, ctx.producer.pid])
    m = Member(who, "A", ctx.cluster.bootstrap, ctx.topic, group, protocol, props, ctx.log_dir)
    cpu = 0.0
    try:
        wait_for(lambda: m.first("first_record"), 60, "the first record")
        sub, first = m.first("subscribed"), m.first("first_record")
        assigned = next(e for e in m.snapshot() if e["event"] == "assigned" and e["partitions"])
        res.update({
            "first_record_ms": first["unix_ms"] - sub["unix_ms"],
            "assigned_ms": assigned["unix_ms"] - sub["unix_ms"],
            "owned": assigned["owned"],
        })
        cpu = m.cpu_s()
    except Exception as e:  # noqa: BLE001 - reported, the run is redone or fails
        res["error"] = str(e)
    finally:
        rc = m.stop()
        if rc != 0:
            res.setdefault("error", f"member exited with {rc}")
    res["background_cpus"] = load.other_cpus(cpu)
    return res


def run_join(ctx, cell, who, run_no):
    protocol, props = CELLS[cell]
    props = dict(props, **ctx.classic_props) if protocol == "classic" else dict(props)
    # A starts at the end of its partitions, so that it reads the steady stream (not the
    # backlog) when B joins; B starts where A committed (auto-commit, and the commit of
    # every revocation), or at the end.
    props["auto.offset.reset"] = "latest"
    group = f"join-{cell}-{who}-{run_no}"
    res = {"measure": "join", "cell": cell, "client": who, "run": run_no, "group": group}
    parts = ctx.partitions
    members = {}
    load = None
    cpu = 0.0
    try:
        members["A"] = Member(who, "A", ctx.cluster.bootstrap, ctx.topic, group, protocol, props, ctx.log_dir)
        wait_for(lambda: len(members["A"].owned()) == parts and members["A"].first("first_record"), 60,
                 "A owning every partition and reading")
        time.sleep(3.0)  # A consuming steadily (the baseline of its gaps)
        load = Load(lambda: [ctx.cluster.proc.pid, ctx.producer.pid] + [m.proc.pid for m in members.values()])
        members["B"] = Member(who, "B", ctx.cluster.bootstrap, ctx.topic, group, protocol, props, ctx.log_dir)
        share = parts // 2

        def settled():
            a, b = set(members["A"].owned()), set(members["B"].owned())
            return (len(b) == share and len(a) == parts - share and not a & b
                    and members["B"].first("first_record"))

        wait_for(settled, 120, "the group to settle with B reading")
        # A reading again on every partition it kept (eager: after getting them back), so
        # that its gap on them is closed and recorded.
        kept_now = members["A"].owned()
        seen = members["A"].counts()
        wait_for(lambda: all(members["A"].counts().get(str(p), 0) > seen.get(str(p), 0) for p in kept_now),
                 30, "A reading its kept partitions")
        time.sleep(2.0)  # anything moving after that would show
        cpu = sum(m.cpu_s() for m in members.values())
    except Exception as e:  # noqa: BLE001
        res["error"] = str(e)
    finally:
        for m in members.values():
            try:
                m.proc.stdin.write("stop\n")
                m.proc.stdin.flush()
            except OSError:
                pass
        for n, m in members.items():
            rc = m.stop()
            if rc != 0:
                res.setdefault("error", f"member {n} exited with {rc}")
    res["background_cpus"] = load.other_cpus(cpu) if load else None
    if "error" in res:
        return res
    a, b = members["A"].snapshot(), members["B"].snapshot()
    t0 = next(e for e in b if e["event"] == "subscribed")["unix_ms"]
    a_off = a[0]["unix_ms"] - a[0]["ms"]  # A's "start": ms since A's start -> Unix ms

    def moves(evs):
        closing = next((e["unix_ms"] for e in evs if e["event"] == "closing"), float("inf"))
        return [e for e in evs if e["event"] in ("assigned", "revoked", "lost")
                and t0 <= e["unix_ms"] < closing]

    ma, mb = moves(a), moves(b)
    changes = [e for e in ma + mb if e["partitions"]]
    t_settled = max(e["unix_ms"] for e in changes)
    a_before = set()
    for e in a:
        if e["event"] in ("assigned", "revoked", "lost") and e["unix_ms"] < t0:
            a_before = set(e["owned"])
    kept = sorted(a_before & set(members["A"].owned()))
    gaps = [e for e in a if e["event"] == "gap"]
    during = [g for g in gaps if g["partition"] in kept and g["to_ms"] + a_off >= t0
              and g["from_ms"] + a_off <= t_settled]
    baseline = [g for g in gaps if g["to_ms"] + a_off < t0 and g["from_ms"] + a_off >= t0 - 3000]
    res.update({
        "settled_ms": t_settled - t0,
        "b_first_record_ms": next(e for e in b if e["event"] == "first_record")["unix_ms"] - t0,
        "a_gap_ms": max([g["to_ms"] - g["from_ms"] for g in during] + [0.0]),
        "a_gap_before_ms": max([g["to_ms"] - g["from_ms"] for g in baseline] + [0.0]),
        "kept": kept,
        "b_owned": members["B"].owned(),
        "a_moves": [{"event": e["event"], "partitions": e["partitions"], "at_ms": round(e["unix_ms"] - t0, 1)}
                    for e in ma],
        "b_moves": [{"event": e["event"], "partitions": e["partitions"], "at_ms": round(e["unix_ms"] - t0, 1)}
                    for e in mb],
    })
    return res


def spread(xs):
    xs = [x for x in xs if x is not None]
    return [min(xs), max(xs)] if xs else None


def describe(r):
    if "error" in r:
        return f"FAILED: {r['error']}"
    bg = f"background {fmt(r.get('background_cpus'), '.2f')} CPUs"
    if r["measure"] == "first":
        return f"first record {r['first_record_ms']:7.0f} ms (assigned {r['assigned_ms']:7.0f} ms); {bg}"
    return (f"settled {r['settled_ms']:7.0f} ms, B's first record {r['b_first_record_ms']:7.0f} ms, "
            f"A's gap {r['a_gap_ms']:6.0f} ms (before B: {r['a_gap_before_ms']:4.0f}); {bg}")


def run_all(args, ctx):
    runs, discarded = [], []
    measures = [m for m in args.measures.split(",") if m]
    cells = [c for c in args.cells.split(",") if c]
    fns = {"first": run_first, "join": run_join}
    for r in range(1, args.runs + 1):
        for measure in measures:
            for i, cell in enumerate(cells):
                order = CLIENTS if (r + i) % 2 else CLIENTS[::-1]
                for who in order:
                    for attempt in range(3):
                        wait_quiet(0.3, 20, [ctx.cluster.proc.pid, ctx.producer.pid])
                        print(f"   run {r} {measure:5} {cell:20} {who:10} "
                              f"(load {os.getloadavg()[0]:.2f})", end=" ", flush=True)
                        res = fns[measure](ctx, cell, who, f"{r}.{attempt}")
                        print(describe(res), flush=True)
                        bg = res.get("background_cpus")
                        if "error" not in res and bg is not None and bg > args.busy_limit and attempt < 2:
                            print(f"      discarded (other processes kept {bg:.2f} CPUs busy); again",
                                  flush=True)
                            discarded.append(res)
                            continue
                        runs.append(res)
                        break
    return runs, discarded


def summarize(runs):
    out = {}
    keys = {"first": ["first_record_ms", "assigned_ms"],
            "join": ["settled_ms", "b_first_record_ms", "a_gap_ms", "a_gap_before_ms"]}
    for r in runs:
        cell = out.setdefault(r["measure"], {}).setdefault(r["cell"], {}).setdefault(
            r["client"], {"runs": 0, "failed": 0})
        if "error" in r:
            cell["failed"] += 1
            continue
        cell["runs"] += 1
    for measure, cells in out.items():
        for cell, clients in cells.items():
            for who, s in clients.items():
                ok = [r for r in runs if r["measure"] == measure and r["cell"] == cell
                      and r["client"] == who and "error" not in r]
                for k in keys[measure]:
                    xs = [r[k] for r in ok]
                    s[k] = median(xs)
                    s[k + "_range"] = spread(xs)
    return out


def markdown(report):
    s, st = report["summary"], report["settings"]
    lines = ["# Consumer groups: ours against librdkafka 2.16 (issue 17)", "",
             f"librdkafka {report['librdkafka']} (confluent-kafka wheel) as the other client and as the "
             f"mock cluster; {st['brokers']} brokers, a {st['partitions']}-partition topic "
             f"({st['up_front']} records per partition up front, then {st['rate']:g} records/s per "
             f"partition throughout); {st['runs']} runs per cell, ours and librdkafka alternating. "
             f"Medians, [min–max] ranges, milliseconds. Machine: {report['machine']}.", "",
             "Settings (the same for every cell): " + ", ".join(f"`{k}` = {v}" for k, v in st["cluster"].items())
             + "; classic cells: " + ", ".join(f"`{k}={v}`" for k, v in st["classic_props"].items())
             + " for both clients, `heartbeat.interval.ms` at both clients' default (3000).", ""]

    def cellv(x, k):
        if not x or x.get(k) is None:
            return "–"
        lo, hi = x[k + "_range"]
        return f"{x[k]:.0f} [{lo:.0f}–{hi:.0f}]"

    if "first" in s:
        lines += ["## Subscribe → first record (a lone member, new group)", "",
                  "| cell | ours | librdkafka | ours: assigned | librdkafka: assigned | ours ≤ librdkafka? |",
                  "|---|---|---|---|---|---|"]
        for cell, c in s["first"].items():
            o, t = c.get("ours"), c.get("librdkafka")
            ok = "–" if not (o and t and o.get("first_record_ms") and t.get("first_record_ms")) else \
                ("yes" if o["first_record_ms"] <= t["first_record_ms"] else
                 f"**no** ({o['first_record_ms'] / t['first_record_ms']:.2f}x)")
            lines.append(f"| {cell} | {cellv(o, 'first_record_ms')} | {cellv(t, 'first_record_ms')} | "
                         f"{cellv(o, 'assigned_ms')} | {cellv(t, 'assigned_ms')} | {ok} |")
        lines.append("")
    if "join" in s:
        lines += ["## A member joins (B starts while A consumes all partitions)", "",
                  "From B's subscribe. Both members start with `auto.offset.reset=latest` here, so "
                  "that A reads the steady stream, not a backlog. *settled*: A and B hold their final "
                  "partitions (B its share, A done revoking and, eager, done getting its kept "
                  "partitions back). *A's gap*: the "
                  "longest time without a record on a partition A kept (gaps under 50 ms are not "
                  "recorded; *before* is the longest gap on any partition in the 3 s before B "
                  "started: the mock answers an empty fetch after the whole fetch.max.wait, 500 ms).", "",
                  "| cell | client | settled | B's first record | A's gap (kept partitions) | A's gap before B |",
                  "|---|---|---|---|---|---|"]
        for cell, c in s["join"].items():
            for who in CLIENTS:
                x = c.get(who)
                lines.append(f"| {cell} | {who} | {cellv(x, 'settled_ms')} | {cellv(x, 'b_first_record_ms')} | "
                             f"{cellv(x, 'a_gap_ms')} | {cellv(x, 'a_gap_before_ms')} |")
        lines.append("")
    bgs = [r.get("background_cpus") for r in report["runs"] if r.get("background_cpus") is not None]
    if bgs:
        lines += [f"Other processes (not the mock, the producer or the members) kept {median(bgs):.2f} CPUs "
                  f"busy during a run in the median, {max(bgs):.2f} at most (runs above "
                  f"{report['settings'].get('busy_limit', 1.2):g} were redone).", ""]
    fails = [r for r in report["runs"] if "error" in r]
    if fails or report["discarded"]:
        lines += [f"{len(fails)} failed runs, {len(report['discarded'])} runs discarded for background load "
                  "(see groups.json).", ""]
    return "\n".join(lines)


def main():
    args = parse_args()
    out = Path(args.out)
    if args.render:
        report = json.loads((out / "groups.json").read_text())
        (out / "groups.md").write_text(markdown(report))
        print(markdown(report))
        return
    log_dir = ROOT / "target" / "bench-groups" / "logs"  # every member's lines and log (tens of MB)
    log_dir.mkdir(parents=True, exist_ok=True)
    for f in log_dir.glob("*"):
        f.unlink()

    class Ctx:
        pass

    ctx = Ctx()
    ctx.log_dir, ctx.partitions, ctx.topic = log_dir, args.partitions, "groups"
    ctx.classic_props = ({"session.timeout.ms": str(args.session_timeout_ms)}
                         if args.session_timeout_ms else {})
    # The launcher linked to librdkafka 2.16 (built by bench.sh --groups).
    ctx.cluster = MockCluster(3, log_dir / "mock-cluster.log", launcher=BIN / "mock-cluster-launcher")
    cluster_settings = {
        "group_initial_rebalance_delay_ms": args.rebalance_delay_ms,
        "group.consumer.heartbeat.interval.ms": args.heartbeat_ms,
        "group.consumer.session.timeout.ms": args.consumer_session_ms,
    }
    try:
        version = ctx.cluster.cmd("version")
        for key, vmax in V2_16_CAPS:
            ctx.cluster.cmd(f"apiversion {key} 0 {vmax}")
        ctx.cluster.cmd(f"group_initial_rebalance_delay {args.rebalance_delay_ms}")
        ctx.cluster.cmd(f"consumer_group_heartbeat_interval {args.heartbeat_ms}")
        ctx.cluster.cmd(f"consumer_group_session_timeout {args.consumer_session_ms}")
        ctx.cluster.cmd(f"create_topic {ctx.topic} {args.partitions} 1")
        for p in range(args.partitions):
            ctx.cluster.cmd(f"partition_leader {ctx.topic} {p} {p % 3 + 1}")
        ctx.producer = subprocess.Popen(
            [sys.executable, str(PRODUCER), ctx.cluster.bootstrap, ctx.topic, str(args.partitions),
             str(args.up_front), str(args.rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_dir / "producer.log", "ab"),
            text=True, bufsize=1)
        ready = ctx.producer.stdout.readline().strip()
        if not ready.startswith("READY"):
            raise RuntimeError(f"producer: {ready!r}")
        print(f"== librdkafka {version} mock, topic {ctx.topic}: {ready}", flush=True)
        try:
            runs, discarded = run_all(args, ctx)
        finally:
            ctx.producer.stdin.close()
            ctx.producer.wait(timeout=30)
    finally:
        ctx.cluster.close()
    report = {
        "librdkafka": version,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "settings": {"brokers": 3, "partitions": args.partitions, "up_front": args.up_front,
                     "rate": args.rate, "runs": args.runs, "cluster": cluster_settings,
                     "busy_limit": args.busy_limit,
                     "classic_props": ctx.classic_props or {"session.timeout.ms": "client default (45000)"},
                     "cells": {c: {"group.protocol": CELLS[c][0], **CELLS[c][1]} for c in CELLS}},
        "summary": summarize(runs),
        "runs": runs,
        "discarded": discarded,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "groups.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "groups.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
