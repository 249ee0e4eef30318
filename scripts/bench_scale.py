#!/usr/bin/env python3
"""Many partitions (issue 16): this library's KafkaConsumer vs librdkafka's at 16 to 10 000
partitions, in a consumer group of 3 000 partitions that two members join, and idle.

Three cases, all on librdkafka 2.0.2's mock cluster (3 brokers, partition p led by broker
p % 3 + 1, ListOffsets capped at v3 as in scripts/bench.py), with the programs of
scripts/bench.py: consumer-net/examples/bench_consume.rs (ours) and
bench/rdkafka_consume.c (librdkafka), both on their default configurations.

scale   One cluster holds a topic per partition count (default 16, 1 000, 3 000, 10 000),
        filled by bench/rdkafka_produce with 100-byte values, uncompressed, record i to
        partition i % P (linger.ms=5, default batching). Each run reads about --records
        records (default 1 000 000): a topic of P partitions holds min(--records,
        ~4 MiB of values x P) records (the mock keeps at most 5 MiB per partition), read
        ceil(--records / held) times (16 partitions: 2 passes of ~508 000). Runs
        alternate: each round visits every cell (forward, then backward the next round),
        and within a cell which consumer goes first alternates too. Measured as in
        bench.py (consuming CPU of all threads per record, first-pass wall time and
        rec/s, VmHWM), plus the fetches our consumer sent, the mock cluster's CPU, and
        the CPUs kept busy by other processes: a run with more than --max-background
        of them is discarded and repeated (at most twice, then kept and flagged).
idle    Empty topics of 3 000 (and 10 000) partitions, assigned from the beginning, polled
        for --idle-s seconds (BENCH_IDLE_S): CPU over the whole time from assign, and
        after its first second.
group   A fresh cluster, a topic of --group-partitions (3 000) partitions holding
        --group-records (100 per partition). Member A (group mode of the same programs:
        BENCH_GROUP, classic protocol, cooperative-sticky, no commits, earliest) joins
        alone and reads everything; after --group-idle-s of idling, members B and C of
        the same implementation start together. Times: from the join (B's and C's
        subscribe) to the group being stable (every member's last assignment callback,
        1 000 partitions each), and to B's and C's first records. CPU: A's over that
        window, and that less A's idle rate measured just before the join; the leader's
        assignment step (ours: from the JoinGroup answer to the SyncGroup request, read
        from the library's info log with the thread's CPU time, a metadata refresh
        included; librdkafka: its debug=assignor "finished in" line, the assignor callback
        alone). Both
        implementations use session.timeout.ms=3000 and heartbeat.interval.ms=1000: the
        mock coordinator holds every join round for session timeout - 1 s, and a
        cooperative join takes two rounds, so ~4 s of any rebalance time is the mock's.

    scripts/bench_scale.py                             # all three cases, 5 runs per scale cell
    scripts/bench_scale.py --cases scale --partitions 16,3000 --records 300000 --runs 1   # quick
    scripts/bench_scale.py --cases group --group-runs 1

Normally run through `bash scripts/bench.sh --scale [options]`, which builds everything.
Outputs bench/results/scale/{scale.md,scale.json,scale.png} (--out), logs in its logs/.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (BIN, OURS, EventChild, MockCluster, fmt, librdkafka_version,  # noqa: E402
                   median, proc_cpu_s, run_measured, system_busy_s, wait_for, wait_quiet)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scale"
VALUE_SIZE = 100
PER_PARTITION_BYTES = 4 * 1024 * 1024  # as bench.py: under the mock's 5 MiB per partition
CONSUMERS = ("ours", "librdkafka")
# The issue's figures before the fix (its author's measurement, our console consumer,
# same mock and data shape): CPU us per record by partition count.
ISSUE_BEFORE = {16: 0.22, 1000: 2.4, 3000: 17.7}
TARGETS = {
    "cpu_vs_librdkafka": "CPU/rec <= 0.5x librdkafka's (3 000 and 10 000 partitions)",
    "cpu_vs_16": "CPU/rec <= 2x ours at 16 partitions",
    "throughput": "rec/s >= librdkafka's",
}
GROUP_PROPS = {"session.timeout.ms": "3000", "heartbeat.interval.ms": "1000"}


def parse_args():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=env("BENCH_SCALE_CASES", "scale,idle,group"))
    ap.add_argument("--partitions", default=env("BENCH_PARTITIONS", "16,1000,3000,10000"))
    ap.add_argument("--records", type=int, default=int(env("BENCH_RECORDS", "1000000")),
                    help="records each scale run reads (re-reading a topic that holds fewer)")
    ap.add_argument("--runs", type=int, default=int(env("BENCH_RUNS", "5")),
                    help="runs of each consumer per scale cell (alternating)")
    ap.add_argument("--produce-conf", default=env("BENCH_PRODUCE_CONF", ""),
                    help="extra producer properties for the scale topics (k=v,...; e.g. linger.ms=1000 for "
                         "bigger batches on many partitions)")
    ap.add_argument("--before", default=env("BENCH_BEFORE", ""),
                    help="a bench_consume built from an older commit (e.g. before the issue-16 fix): "
                         "read each scale cell --before-runs times after the rounds, as 'ours-before'")
    ap.add_argument("--before-runs", type=int, default=1)
    ap.add_argument("--idle-partitions", default=env("BENCH_IDLE_PARTITIONS", "3000,10000"))
    ap.add_argument("--idle-s", type=float, default=float(env("BENCH_IDLE_S", "10")))
    ap.add_argument("--idle-runs", type=int, default=int(env("BENCH_IDLE_RUNS", "3")))
    ap.add_argument("--group-partitions", type=int, default=int(env("BENCH_GROUP_PARTITIONS", "3000")))
    ap.add_argument("--group-records", type=int, default=int(env("BENCH_GROUP_RECORDS", "300000")))
    ap.add_argument("--group-runs", type=int, default=int(env("BENCH_GROUP_RUNS", "3")),
                    help="group runs per implementation (alternating)")
    ap.add_argument("--group-idle-s", type=float, default=3.0,
                    help="member A idles this long before B and C join (its idle rate)")
    ap.add_argument("--stall", type=float, default=float(env("BENCH_STALL_S", "30")))
    ap.add_argument("--max-background", type=float, default=float(env("BENCH_MAX_BACKGROUND", "0.5")),
                    help="CPUs other processes may keep busy during a run before it is discarded")
    ap.add_argument("--retries", type=int, default=2, help="repeats of a discarded run")
    ap.add_argument("--quiet-wait", type=float, default=20.0,
                    help="seconds to wait for the background load to drop after a discarded run")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--render", metavar="JSON", help="only write the .md and .png of an earlier run's .json")
    return ap.parse_args()


# ---------------------------------------------------------------- machine

def spread(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


# ---------------------------------------------------------------- cluster set-up

def setup_topic(cluster, topic, parts, n, log_dir, produce_conf=""):
    """Creates topic (leaders round-robin) and fills it with n records; returns the
    producer's report (low/high watermarks)."""
    t0 = time.monotonic()
    cluster.cmd(f"create_topic {topic} {parts} 1")
    for p in range(parts):
        cluster.cmd(f"partition_leader {topic} {p} {p % 3 + 1}")
    setup_s = time.monotonic() - t0
    if n == 0:
        return {"low": [0] * parts, "high": [0] * parts, "ms": 0.0, "setup_s": setup_s}
    prod = subprocess.run(
        [str(BIN / "rdkafka_produce"), cluster.bootstrap, topic, str(parts), str(n), str(VALUE_SIZE), "none"],
        capture_output=True, text=True, timeout=900,
        env=dict(os.environ, BENCH_PRODUCE_CONF=produce_conf) if produce_conf else None)
    with open(log_dir / "produce.stderr.log", "a") as f:
        f.write(prod.stderr)
    if prod.returncode != 0:
        raise RuntimeError(f"producing {topic}: {prod.stderr.strip()[-500:]}")
    produced = json.loads(prod.stdout)
    produced["setup_s"] = setup_s
    return produced


def consumer_cmd(who, bootstrap, topic, parts, ends, passes, before=None):
    prog = {"ours": str(OURS), "librdkafka": str(BIN / "rdkafka_consume"), "ours-before": before}[who]
    return [prog, bootstrap, topic, str(parts), ends, str(passes)]


def measure(args, cluster, cmd, env, err_path, timeout):
    """One consumer run with the mock's CPU and the background load around it."""
    busy0, mock0 = system_busy_s(), proc_cpu_s(cluster.proc.pid)
    rc, out, wall, cpu, rss = run_measured(cmd, timeout, env, err_path)
    busy1, mock1 = system_busy_s(), proc_cpu_s(cluster.proc.pid)
    run = {"rc": rc, "process_wall_s": wall, "cpu_s": cpu, "maxrss_kib": rss}
    if None not in (mock0, mock1):
        run["mock_cpu_s"] = mock1 - mock0
    if None not in (busy0, busy1, mock0, mock1) and wall > 0:
        run["background_cpus"] = max(0.0, (busy1 - busy0) - cpu - run["mock_cpu_s"]) / wall
    try:
        run.update(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        pass
    return run


def measured_with_retries(args, cluster, cmd, env, err_path, timeout, label, discarded):
    for attempt in range(args.retries + 1):
        run = measure(args, cluster, cmd, env, err_path, timeout)
        busy = run.get("background_cpus")
        if busy is None or busy <= args.max_background or run.get("rc") != 0:
            return run
        if attempt == args.retries:
            run["noisy"] = True
            return run
        run["discarded"] = f"background load {busy:.2f} CPUs"
        discarded.append({"cell": label, **run})
        print(f"    {label}: discarded, other processes kept {busy:.2f} CPUs busy; again", flush=True)
        wait_quiet(args.max_background, args.quiet_wait, [cluster.proc.pid], vanished_as_zero=True)
    return run


# ---------------------------------------------------------------- scale

def run_scale(args, log_dir):
    parts_list = [int(p) for p in args.partitions.split(",") if p]
    cap = PER_PARTITION_BYTES // (VALUE_SIZE + 30)
    cluster = MockCluster(3, log_dir / "mock-scale.log")
    cells, discarded = [], []
    try:
        cluster.cmd("apiversion 2 0 3")
        for parts in parts_list:
            n = min(args.records, cap * parts)
            topic = f"scale-{parts}"
            print(f"== scale: {topic}: creating, producing {n} records (load {os.getloadavg()[0]:.2f})",
                  flush=True)
            produced = setup_topic(cluster, topic, parts, n, log_dir, args.produce_conf)
            low, high = produced["low"], produced["high"]
            expected = sum(h - l for l, h in zip(low, high))
            passes = max(1, -(-args.records // max(expected, 1)))
            print(f"   leaders set in {produced['setup_s']:.1f} s, produced in {produced['ms'] / 1e3:.1f} s; "
                  f"{expected} records held, {passes} pass(es) per run", flush=True)
            cells.append({"partitions": parts, "topic": topic, "produced": n, "expected_records": expected,
                          "evicted": n - expected, "passes": passes, "produce_ms": produced["ms"],
                          "ends": ",".join(str(h) for h in high), "runs": {c: [] for c in CONSUMERS},
                          "errors": []})
            if args.before:
                cells[-1]["runs"]["ours-before"] = []
        env = dict(os.environ, BENCH_STALL_S=str(args.stall))
        for k in ("BENCH_COLD", "BENCH_IDLE_S", "BENCH_GROUP"):
            env.pop(k, None)
        for r in range(args.runs):
            order = cells if r % 2 == 0 else cells[::-1]
            print(f"== scale round {r + 1}/{args.runs} (load {os.getloadavg()[0]:.2f})", flush=True)
            for i, cell in enumerate(order):
                first = CONSUMERS if (r + i) % 2 == 0 else CONSUMERS[::-1]
                for who in first:
                    label = f"{cell['partitions']}p/{who}"
                    cmd = consumer_cmd(who, cluster.bootstrap, cell["topic"], cell["partitions"], cell["ends"],
                                       cell["passes"])
                    run = measured_with_retries(args, cluster, cmd, env, log_dir / f"scale-{who}.stderr.log",
                                                args.stall * 2 + 300, label, discarded)
                    run["round"] = r + 1
                    check_run(cell, who, run)
                    cell["runs"][who].append(run)
                    print("   " + describe(label, run), flush=True)
        for r in range(args.before_runs if args.before else 0):
            print(f"== scale: ours before ({args.before}), run {r + 1}", flush=True)
            for cell in cells:
                label = f"{cell['partitions']}p/ours-before"
                cmd = consumer_cmd("ours-before", cluster.bootstrap, cell["topic"], cell["partitions"],
                                   cell["ends"], cell["passes"], args.before)
                run = measured_with_retries(args, cluster, cmd, env, log_dir / "scale-ours-before.stderr.log",
                                            args.stall * 2 + 1800, label, discarded)
                run["round"] = r + 1
                check_run(cell, "ours-before", run)
                cell["runs"]["ours-before"].append(run)
                print("   " + describe(label, run), flush=True)
    finally:
        cluster.close()
    for cell in cells:
        sums = {run.get("checksum") for runs in cell["runs"].values() for run in runs if not run.get("errors")}
        if len(sums) > 1:
            cell["errors"].append(f"checksums differ: {sorted(sums)}")
        cell["summary"] = summarize_cell(cell)
        del cell["ends"]
    ours16 = next((c["summary"].get("ours") for c in cells if c["partitions"] == 16), None)
    for cell in cells:
        cell["targets"] = targets(cell, ours16)
    before = None
    if args.before:
        rev = subprocess.run(["git", "-C", str(Path(args.before).resolve().parent), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        before = f"{args.before}" + (f" (git {rev})" if rev else "")
    return {"cells": cells, "discarded": discarded, "before": before}


def check_run(cell, who, run):
    errs = []
    if run.get("rc") != 0 or "records" not in run:
        errs.append(f"exit {run.get('rc')}")
    elif run["records"] != cell["expected_records"] * cell["passes"] or run["pass_records"] != cell["expected_records"]:
        errs.append(f"read {run['records']} records, expected {cell['expected_records']} x {cell['passes']}")
    if errs:
        run["errors"] = errs
        cell["errors"].extend(f"{who} round {run.get('round')}: {e}" for e in errs)


def describe(label, run):
    if run.get("errors"):
        return f"{label:16} FAILED: {'; '.join(run['errors'])}"
    return (f"{label:16} wall {run['wall_ms']:8.1f} ms, {run['pass_records'] / run['wall_ms'] * 1e3:11,.0f} rec/s, "
            f"cpu {run['cpu_ms'] * 1e3 / run['records']:7.3f} us/rec, rss {run['peak_rss_kib'] / 1024:6.1f} MiB, "
            f"first {run['t_first_record_ms']:6.1f} ms, mock {fmt(run.get('mock_cpu_s'), '.2f')} s, "
            f"background {fmt(run.get('background_cpus'), '.2f')} CPUs"
            + (" (noisy)" if run.get("noisy") else ""))


def summarize_cell(cell):
    out = {}
    for who in cell["runs"]:
        good = [r for r in cell["runs"][who] if not r.get("errors") and "records" in r]
        if not good:
            out[who] = None
            continue
        clean = [r for r in good if not r.get("noisy")]
        ok = clean if len(clean) >= (len(good) + 1) // 2 else good
        cpu = [r["cpu_ms"] * 1e3 / r["records"] for r in ok]
        rps = [r["pass_records"] / (r["wall_ms"] / 1e3) for r in ok]
        out[who] = {
            "runs": len(cell["runs"][who]), "median_of": len(ok),
            "noisy_runs_used": sum(1 for r in ok if r.get("noisy")),
            "records_per_pass": ok[0]["pass_records"], "passes": ok[0]["passes"],
            "cpu_us_per_record": median(cpu), "cpu_us_per_record_range": spread(cpu),
            "records_per_s": median(rps), "records_per_s_range": spread(rps),
            "wall_ms": median([r["wall_ms"] for r in ok]),
            "process_cpu_us_per_record": median([r["cpu_s"] * 1e6 / r["records"] for r in ok]),
            "peak_rss_mib": median([r["peak_rss_kib"] / 1024 for r in ok]),
            "first_record_ms": median([r["t_first_record_ms"] for r in ok]),
            "mock_cpu_us_per_record": median([r["mock_cpu_s"] * 1e6 / r["records"] for r in ok if "mock_cpu_s" in r]),
            "background_cpus": median([r.get("background_cpus") for r in ok]),
            "fetches_per_pass": median([r["fetches_sent"] / r["passes"] for r in ok if "fetches_sent" in r]),
            "fetched_partitions_per_record": median([r["fetches_sent"] * cell["partitions"] / 3 / r["records"]
                                                     for r in ok if "fetches_sent" in r]),
            # Records per partition per fetch: about the records per batch, the mock
            # answering with one batch per partition (fetches that came back empty, such as
            # the last long poll of each broker, make it an underestimate).
            "records_per_fetched_partition": median([r["records"] / (r["fetches_sent"] * cell["partitions"] / 3)
                                                     for r in ok if r.get("fetches_sent")]),
        }
    ours, lib = out.get("ours"), out.get("librdkafka")
    if ours and lib:
        out["ratio"] = {k: ours[k] / lib[k] if lib[k] else None
                        for k in ("cpu_us_per_record", "records_per_s", "peak_rss_mib", "first_record_ms")}
    return out


def targets(cell, ours16):
    s = cell["summary"]
    ours, ratio = s.get("ours"), s.get("ratio")
    if not ours or not ratio:
        return None
    return {
        "cpu_vs_librdkafka": ratio["cpu_us_per_record"] <= 0.5,
        "cpu_vs_16": (ours["cpu_us_per_record"] <= 2 * ours16["cpu_us_per_record"]) if ours16 else None,
        "cpu_vs_16_ratio": ours["cpu_us_per_record"] / ours16["cpu_us_per_record"] if ours16 else None,
        "throughput": ratio["records_per_s"] >= 1.0,
    }


# ---------------------------------------------------------------- idle

def run_idle(args, log_dir):
    parts_list = [int(p) for p in args.idle_partitions.split(",") if p]
    cluster = MockCluster(3, log_dir / "mock-idle.log")
    cells, discarded = [], []
    try:
        cluster.cmd("apiversion 2 0 3")
        for parts in parts_list:
            topic = f"idle-{parts}"
            print(f"== idle: {topic}: creating (load {os.getloadavg()[0]:.2f})", flush=True)
            setup_topic(cluster, topic, parts, 0, log_dir)
            cells.append({"partitions": parts, "topic": topic, "runs": {c: [] for c in CONSUMERS}, "errors": []})
        env = dict(os.environ, BENCH_IDLE_S=str(args.idle_s))
        for k in ("BENCH_COLD", "BENCH_GROUP"):
            env.pop(k, None)
        for r in range(args.idle_runs):
            for i, cell in enumerate(cells):
                for who in (CONSUMERS if (r + i) % 2 == 0 else CONSUMERS[::-1]):
                    label = f"idle {cell['partitions']}p/{who}"
                    ends = ",".join("0" for _ in range(cell["partitions"]))
                    cmd = consumer_cmd(who, cluster.bootstrap, cell["topic"], cell["partitions"], ends, 1)
                    run = measured_with_retries(args, cluster, cmd, env, log_dir / f"idle-{who}.stderr.log",
                                                args.idle_s + 60, label, discarded)
                    if run.get("rc") != 0 or "idle_s" not in run:
                        cell["errors"].append(f"{who} run {r + 1}: exit {run.get('rc')}")
                        run["errors"] = [f"exit {run.get('rc')}"]
                    cell["runs"][who].append(run)
                    print(f"   {label:20} " + ("FAILED" if run.get("errors") else
                          f"cpu {run['cpu_ms']:7.1f} ms in {run['idle_s']:.1f} s, after the first second "
                          f"{run['idle_cpu_ms_after_1s']:7.1f} ms; fetches {run.get('fetches_sent', '—')}; "
                          f"mock {fmt(run.get('mock_cpu_s'), '.2f')} s; background "
                          f"{fmt(run.get('background_cpus'), '.2f')} CPUs"), flush=True)
    finally:
        cluster.close()
    for cell in cells:
        cell["summary"] = {}
        for who in CONSUMERS:
            ok = [r for r in cell["runs"][who] if not r.get("errors")]
            if not ok:
                cell["summary"][who] = None
                continue
            per10 = [r["cpu_ms"] / 1e3 * 10 / r["idle_s"] for r in ok]
            steady = [r["idle_cpu_ms_after_1s"] / 1e3 * 10 / (r["idle_s"] - 1) for r in ok]
            cell["summary"][who] = {
                "runs": len(ok),
                "cpu_s_per_10s": median(per10), "cpu_s_per_10s_range": spread(per10),
                "steady_cpu_s_per_10s": median(steady), "steady_cpu_s_per_10s_range": spread(steady),
                "fetches_per_s": median([r["fetches_sent"] / r["idle_s"] for r in ok if "fetches_sent" in r]),
                "mock_cpu_s_per_10s": median([r["mock_cpu_s"] * 10 / r["process_wall_s"] for r in ok
                                              if "mock_cpu_s" in r]),
                "peak_rss_mib": median([r["peak_rss_kib"] / 1024 for r in ok]),
                "background_cpus": median([r.get("background_cpus") for r in ok]),
            }
    return {"cells": cells, "discarded": discarded}


# ---------------------------------------------------------------- group

class Member(EventChild):
    """A group-mode consumer child: its event lines, read as they come."""

    def __init__(self, who, name, bootstrap, topic, group, log_dir):
        env = dict(os.environ, BENCH_GROUP=group)
        for k in ("BENCH_IDLE_S", "BENCH_COLD"):
            env.pop(k, None)
        if who == "ours":
            env["BENCH_PROPS"] = ",".join(f"{k}={v}" for k, v in GROUP_PROPS.items())
            cmd = [str(OURS), bootstrap, topic]
        else:
            conf = dict(GROUP_PROPS, debug="assignor")
            env["BENCH_RDKAFKA_CONF"] = ",".join(f"{k}={v}" for k, v in conf.items())
            cmd = [str(BIN / "rdkafka_consume"), bootstrap, topic]
        self.name, self.who = name, who
        super().__init__(cmd, env, log_dir / f"group-{who}-{name}.stderr.log", "quit")

    def owned(self):
        own = 0
        for e in self.snapshot():
            if e["event"] in ("assigned", "revoked", "lost"):
                own = e["owned"]
        return own

    def records(self):
        return max([e.get("records", 0) for e in self.snapshot() if e["event"] == "tick"] + [0])

    def stop(self, timeout=30):
        return super().stop(timeout)


def cpu_at(events, t):
    """A member's CPU (ms) at Unix time t (ms), interpolated between its events."""
    pts = sorted((e["t_ms"], e["cpu_ms"]) for e in events if "cpu_ms" in e)
    before = [p for p in pts if p[0] <= t]
    after = [p for p in pts if p[0] >= t]
    if not before:
        return pts[0][1] if pts else None
    if not after:
        return before[-1][1]
    (t0, c0), (t1, c1) = before[-1], after[0]
    return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)


def leader_steps(who, events):
    """The leader's assignment steps: (ms, what) per round."""
    steps = []
    if who == "ours":
        joined = None
        for e in events:
            if e["event"] != "log":
                continue
            m = re.search(r"joined generation \d+ as (\S+) \(leader (\S+),", e["msg"])
            if m:
                joined = e if m.group(1) == m.group(2) else None
            elif "leader assigned" in e["msg"] and joined:
                steps.append({"wall_ms": e["t_ms"] - joined["t_ms"],
                              "thread_cpu_ms": e["thread_cpu_ms"] - joined["thread_cpu_ms"],
                              "msg": e["msg"]})
                joined = None
    else:
        for e in events:
            m = re.search(r"finished in ([0-9.]+)\s*ms", e.get("msg", "")) if e["event"] == "log" else None
            if m:
                steps.append({"wall_ms": float(m.group(1)), "msg": e["msg"][:120]})
    return steps


def group_run(args, cluster, who, topic, total, run_no, log_dir):
    group = f"g-{who}-{run_no}"
    res = {"implementation": who, "run": run_no, "group": group}
    members = {}
    try:
        members["A"] = Member(who, "A", cluster.bootstrap, topic, group, log_dir)
        wait_for(lambda: members["A"].owned() == args.group_partitions, 60, "A's assignment")
        wait_for(lambda: members["A"].records() >= total, 120, "A reading the topic")
        t_read = time.time() * 1e3
        time.sleep(args.group_idle_s + 1.0)
        busy0, mock0, a0, t0 = (system_busy_s(), proc_cpu_s(cluster.proc.pid),
                                proc_cpu_s(members["A"].proc.pid), time.monotonic())
        members["B"] = Member(who, "B", cluster.bootstrap, topic, group, log_dir)
        members["C"] = Member(who, "C", cluster.bootstrap, topic, group, log_dir)
        share = args.group_partitions // 3
        wait_for(lambda: all(members[n].owned() == share for n in "ABC"), 90,
                 "the group to settle at 1 000 partitions per member")
        # B and C start their partitions from the beginning (nothing was committed): they
        # read two thirds of the topic between them.
        wait_for(lambda: members["B"].records() + members["C"].records() >= total - total // 3, 60,
                 "B and C reading their partitions")
        own = [proc_cpu_s(members[n].proc.pid) for n in "ABC"]
        busy1, mock1, t1 = system_busy_s(), proc_cpu_s(cluster.proc.pid), time.monotonic()
        if None not in (busy0, busy1, mock0, mock1, a0) and None not in own:
            other = (busy1 - busy0) - (mock1 - mock0) - (sum(own) - a0)
            res["background_cpus"] = max(0.0, other) / (t1 - t0)
    except Exception as e:  # noqa: BLE001 - report, stop the members, go on
        res["error"] = str(e)
    finally:
        for m in members.values():
            m.stop()
    ev = {n: m.snapshot() for n, m in members.items()}
    res["events"] = ev
    for n, m in members.items():
        if m.proc.returncode != 0:
            res.setdefault("error", f"member {n} exited with {m.proc.returncode}")
    if "error" in res or len(ev) < 3:
        return res
    a, b, c = ev["A"], ev["B"], ev["C"]
    t_join = min(b[0]["t_ms"], c[0]["t_ms"])   # their "subscribe" events
    # The moves of the rebalance: after the join, before the member was told to stop (its
    # close revokes everything).
    closing = {n: next((e["t_ms"] for e in ev[n] if e["event"] == "closing"), float("inf")) for n in "ABC"}
    moves = {n: [e for e in ev[n] if e["event"] in ("assigned", "revoked", "lost")
                 and t_join <= e["t_ms"] < closing[n]] for n in "ABC"}
    t_stable = max(e["t_ms"] for n in "ABC" for e in moves[n])
    firsts = {n: next((e["t_ms"] for e in ev[n] if e["event"] == "first_record"), None) for n in "BC"}
    # A's idle rate over the --group-idle-s before the join (ticks after it read everything).
    idle_from = t_join - args.group_idle_s * 1e3
    rate = (cpu_at(a, t_join) - cpu_at(a, idle_from)) / (t_join - idle_from)  # ms CPU per ms
    a_window = cpu_at(a, t_stable) - cpu_at(a, t_join)
    steps = leader_steps(who, [e for e in a if e["t_ms"] >= t_join])
    res.update({
        "t_join_ms": t_join,
        "rebalance_ms": t_stable - t_join,
        "first_record_ms": {n: (firsts[n] - t_join) if firsts[n] else None for n in "BC"},
        "a_moves": [{k: e[k] for k in ("event", "n", "owned")} | {"at_ms": e["t_ms"] - t_join} for e in moves["A"]],
        "bc_moves": {n: [{k: e[k] for k in ("event", "n", "owned")} | {"at_ms": e["t_ms"] - t_join}
                         for e in moves[n]] for n in "BC"},
        "a_cpu_ms": a_window,
        "a_idle_cpu_ms_per_s": rate * 1e3,
        "a_extra_cpu_ms": a_window - rate * (t_stable - t_join),
        "a_initial_read_cpu_ms": cpu_at(a, t_read),
        "leader_steps": steps,
        "leader_step_ms": sum(s.get("thread_cpu_ms", s["wall_ms"]) for s in steps),
        "bc_cpu_to_stable_ms": {n: cpu_at(ev[n], t_stable) - ev[n][0]["cpu_ms"] for n in "BC"},
        "summaries": {n: next((e for e in ev[n] if e["event"] == "summary"), None) for n in "ABC"},
    })
    return res


def run_group(args, log_dir):
    cluster = MockCluster(3, log_dir / "mock-group.log")
    runs = []
    try:
        cluster.cmd("apiversion 2 0 3")
        topic = f"group-{args.group_partitions}"
        print(f"== group: {topic}: creating, producing {args.group_records} records", flush=True)
        produced = setup_topic(cluster, topic, args.group_partitions, args.group_records, log_dir)
        total = sum(h - l for l, h in zip(produced["low"], produced["high"]))
        for r in range(args.group_runs):
            for who in (CONSUMERS if r % 2 == 0 else CONSUMERS[::-1]):
                print(f"   group run {r + 1} {who} (load {os.getloadavg()[0]:.2f})", flush=True)
                res = group_run(args, cluster, who, topic, total, r + 1, log_dir)
                runs.append(res)
                if "error" in res:
                    print(f"   FAILED: {res['error']}", flush=True)
                    continue
                print(f"   {who:10} rebalance {res['rebalance_ms']:7.0f} ms, first records B "
                      f"{fmt(res['first_record_ms']['B'], '.0f')} / C {fmt(res['first_record_ms']['C'], '.0f')} ms; "
                      f"A cpu {res['a_cpu_ms']:7.1f} ms (idle rate {res['a_idle_cpu_ms_per_s']:.1f} ms/s, "
                      f"extra {res['a_extra_cpu_ms']:7.1f} ms), leader steps "
                      f"{[round(s.get('thread_cpu_ms', s['wall_ms']), 2) for s in res['leader_steps']]} ms; "
                      f"background {fmt(res.get('background_cpus'), '.2f')} CPUs", flush=True)
    finally:
        cluster.close()
    summary = {}
    for who in CONSUMERS:
        ok = [r for r in runs if r["implementation"] == who and "error" not in r]
        if not ok:
            summary[who] = None
            continue
        keys = {
            "rebalance_ms": [r["rebalance_ms"] for r in ok],
            "first_record_b_ms": [r["first_record_ms"]["B"] for r in ok],
            "first_record_c_ms": [r["first_record_ms"]["C"] for r in ok],
            "a_cpu_ms": [r["a_cpu_ms"] for r in ok],
            "a_extra_cpu_ms": [r["a_extra_cpu_ms"] for r in ok],
            "a_idle_cpu_ms_per_s": [r["a_idle_cpu_ms_per_s"] for r in ok],
            "leader_step_ms": [r["leader_step_ms"] for r in ok],
            "a_initial_read_cpu_ms": [r["a_initial_read_cpu_ms"] for r in ok],
            "b_cpu_to_stable_ms": [r["bc_cpu_to_stable_ms"]["B"] for r in ok],
        }
        summary[who] = {"runs": len(ok)}
        for k, xs in keys.items():
            summary[who][k] = median(xs)
            summary[who][k + "_range"] = spread(xs)
        summary[who]["rounds"] = median([sum(1 for m in r["a_moves"] if m["event"] == "assigned") for r in ok])
    return {"partitions": args.group_partitions, "records": args.group_records, "props": GROUP_PROPS,
            "runs": runs, "summary": summary}


# ---------------------------------------------------------------- report

def rng(r, spec):
    lo, hi = r if r else (None, None)
    return f"{fmt(lo, spec)}–{fmt(hi, spec)}"


def markdown(report):
    env = report["environment"]
    lines = ["# Many partitions (issue 16): consumer-net KafkaConsumer vs librdkafka", "",
             f"{env['date']} · {env['machine']} · {env['cpus']} CPUs · librdkafka {env['librdkafka']} · "
             f"git {env['git']} · load before: {env['load_before']} · after: {env.get('load_after', '?')} · "
             f"{env.get('duration_s', '?')} s", ""]
    sc = report.get("scale")
    if sc:
        cfg = report["config"]
        lines += [
            "## Scaling with the partition count", "",
            f"librdkafka 2.0.2 mock cluster, 3 brokers, partition p led by broker p % 3 + 1; 100-byte values, "
            f"uncompressed, produced by librdkafka (record i to partition i % P, linger.ms=5); each run reads "
            f"~{cfg['records']:,} records (the 16-partition topic holds ~4 MiB per partition and is read "
            f"twice). Both consumers on their defaults (as in results.md). Medians of {cfg['runs']} runs per "
            "consumer, alternating, cells visited in turn; ranges are min–max of the runs used. CPU µs/rec: all "
            "threads while consuming (/proc/self/task/*/schedstat, from just before assign to the last "
            "record) per record read; rec/s: the first pass. Fetches: sent by ours per pass; records per fetched "
            "partition: records read / (fetches × partitions per broker), about the records per batch (the mock "
            "answers with at most one batch per partition)"
            + (f"; producer properties: {cfg['produce_conf']}" if cfg.get("produce_conf") else "")
            + (f"; ours-before: {sc['before']} ({cfg['before_runs']} run(s) per cell after the rounds)"
               if sc.get("before") else "") + ".", "",
            "| partitions | records/pass × passes | consumer | CPU µs/rec | range | rec/s | range | "
            "first record ms | peak RSS MiB | fetches/pass | records per fetched partition | mock CPU µs/rec | "
            "background CPUs |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in sc["cells"]:
            for who in c["runs"]:
                m = c["summary"].get(who)
                if not m:
                    lines.append(f"| {c['partitions']:,} | | {who} | failed | | | | | | | | | |")
                    continue
                lines.append(
                    f"| {c['partitions']:,} | {m['records_per_pass']:,} × {m['passes']} | {who} | "
                    f"{m['cpu_us_per_record']:.3f} | {rng(m['cpu_us_per_record_range'], '.3f')} | "
                    f"{m['records_per_s']:,.0f} | {rng(m['records_per_s_range'], ',.0f')} | "
                    f"{m['first_record_ms']:.1f} | {m['peak_rss_mib']:.1f} | "
                    f"{fmt(m['fetches_per_pass'], '.0f') if who == 'ours' else '—'} | "
                    f"{fmt(m.get('records_per_fetched_partition'), '.1f') if who == 'ours' else '—'} | "
                    f"{fmt(m['mock_cpu_us_per_record'], '.3f')} | {fmt(m['background_cpus'], '.2f')}"
                    + (f" ({m['noisy_runs_used']} noisy)" if m["noisy_runs_used"] else "") + " |")
            r = c["summary"].get("ratio")
            if r:
                lines.append(f"| {c['partitions']:,} | | **ours / librdkafka** | "
                             f"**{fmt(r['cpu_us_per_record'], '.2f')}×** | | "
                             f"**{fmt(r['records_per_s'], '.2f')}×** | | {fmt(r['first_record_ms'], '.2f')}× | "
                             f"{fmt(r['peak_rss_mib'], '.2f')}× | | | | |")
        lines += ["", "Targets (ours):", "", "| partitions | " + " | ".join(TARGETS.values()) + " | errors |",
                  "|---:|" + "---|" * len(TARGETS) + "---|"]
        for c in sc["cells"]:
            t = c.get("targets") or {}
            r = c["summary"].get("ratio") or {}

            def yes(k, detail):
                v = t.get(k)
                return "—" if v is None else ("met" if v else "**missed**") + f" ({detail})"
            lines.append(
                f"| {c['partitions']:,} | {yes('cpu_vs_librdkafka', fmt(r.get('cpu_us_per_record'), '.2f') + '×')} | "
                f"{yes('cpu_vs_16', fmt(t.get('cpu_vs_16_ratio'), '.2f') + '×')} | "
                f"{yes('throughput', fmt(r.get('records_per_s'), '.2f') + '×')} | {'; '.join(c['errors'])} |")
        if sc["discarded"]:
            lines += ["", f"Runs discarded for background load and repeated: {len(sc['discarded'])} "
                      f"({', '.join(d['cell'] for d in sc['discarded'])})."]
        lines.append("")
    idle = report.get("idle")
    if idle:
        lines += ["## Idle partitions", "",
                  f"Empty topics, every partition assigned from the beginning, `poll(100 ms)` for "
                  f"{report['config']['idle_s']:.0f} s (`BENCH_IDLE_S`). CPU of all threads: over the whole time from "
                  "just before assign (start-up included), and after the first second, both scaled to 10 s. "
                  "Medians and min–max.", "",
                  "| partitions | consumer | CPU s per 10 s (from assign) | range | steady CPU s per 10 s | range | "
                  "fetches/s | mock CPU s per 10 s | background CPUs |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for c in idle["cells"]:
            for who in CONSUMERS:
                m = c["summary"].get(who)
                if not m:
                    lines.append(f"| {c['partitions']:,} | {who} | failed | | | | | | |")
                    continue
                lines.append(f"| {c['partitions']:,} | {who} | {m['cpu_s_per_10s']:.3f} | "
                             f"{rng(m['cpu_s_per_10s_range'], '.3f')} | {m['steady_cpu_s_per_10s']:.3f} | "
                             f"{rng(m['steady_cpu_s_per_10s_range'], '.3f')} | "
                             f"{fmt(m['fetches_per_s'], '.1f') if who == 'ours' else '—'} | "
                             f"{fmt(m['mock_cpu_s_per_10s'], '.3f')} | {fmt(m['background_cpus'], '.2f')} |")
        lines.append("")
    g = report.get("group")
    if g:
        lines += ["## A group of 3 000 partitions gains two members", "",
                  f"Topic of {g['partitions']:,} partitions holding {g['records']:,} records; member A alone "
                  "reads it all, idles, then B and C (same implementation) start together. Classic protocol, "
                  "cooperative-sticky, no commits, auto.offset.reset=earliest, "
                  + ", ".join(f"{k}={v}" for k, v in g["props"].items())
                  + ". Rebalance: from B's and C's subscribe to the last assignment callback of the round that "
                  "leaves every member with 1 000 partitions; first record: B's and C's, from the same start. "
                  "A's CPU: over that window; extra: less A's idle rate just before the join. Leader's step: "
                  "ours the polling thread's CPU from the JoinGroup answer to the SyncGroup request (decoding "
                  "the subscriptions, a metadata refresh of the topic, the assignor, encoding, and whatever "
                  "else the poll loop handled meanwhile), librdkafka its assignor callback alone "
                  "(debug=assignor, wall time), summed over the rounds. Medians and min–max.", "",
                  "| implementation | runs | rebalance ms | range | first record B / C ms | A CPU in the window ms | "
                  "A extra CPU ms | range | A idle CPU ms/s | leader's step ms (all rounds) | rounds | "
                  "B CPU to stable ms |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for who in CONSUMERS:
            m = g["summary"].get(who)
            if not m:
                lines.append(f"| {who} | 0 | failed | | | | | | | | | |")
                continue
            lines.append(
                f"| {who} | {m['runs']} | {m['rebalance_ms']:.0f} | {rng(m['rebalance_ms_range'], '.0f')} | "
                f"{fmt(m['first_record_b_ms'], '.0f')} / {fmt(m['first_record_c_ms'], '.0f')} | "
                f"{m['a_cpu_ms']:.1f} | {m['a_extra_cpu_ms']:.1f} | {rng(m['a_extra_cpu_ms_range'], '.1f')} | "
                f"{m['a_idle_cpu_ms_per_s']:.2f} | {m['leader_step_ms']:.2f} | {fmt(m['rounds'], '.0f')} | "
                f"{m['b_cpu_to_stable_ms']:.1f} |")
        errs = [f"{r['implementation']} run {r['run']}: {r['error']}" for r in g["runs"] if "error" in r]
        if errs:
            lines += ["", "Failed runs: " + "; ".join(errs)]
        lines.append("")
    return "\n".join(lines)


def plot(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = report["scale"]["cells"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = {"ours": "#d95f02", "librdkafka": "#1b9e77", "ours-before": "#999999"}
    labels = {"ours": "consumer-net (ours)", "librdkafka": "librdkafka 2.0.2",
              "ours-before": "ours before the issue-16 fix"}
    measured_before = any(c["summary"].get("ours-before") for c in cells)
    rev = re.search(r"\(git (\w+)\)", report["scale"].get("before") or "")
    runs = report["config"].get("before_runs") or 1
    labels["ours-before"] += f" ({'git ' + rev.group(1) + ', ' if rev else ''}{runs} run{'s' if runs > 1 else ''})"
    for ax, key, title in ((axes[0], "cpu_us_per_record", "CPU µs per record (lower is better)"),
                           (axes[1], "records_per_s", "records/s, first pass (higher is better)")):
        for who in CONSUMERS + (("ours-before",) if measured_before else ()):
            pts = [(c["partitions"], c["summary"][who]) for c in cells if c["summary"].get(who)]
            if not pts:
                continue
            xs = [p for p, _ in pts]
            ys = [m[key] for _, m in pts]
            lo = [m[key] - m[key + "_range"][0] for _, m in pts]
            hi = [m[key + "_range"][1] - m[key] for _, m in pts]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=colors[who], label=labels[who],
                        linestyle="--" if who == "ours-before" else "-")
        if key == "cpu_us_per_record" and not measured_before:
            xs = sorted(ISSUE_BEFORE)
            ax.plot(xs, [ISSUE_BEFORE[x] for x in xs], linestyle="--", marker="x", color="#999999",
                    label="ours before the fix (issue report)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("partitions")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    conf = report["config"].get("produce_conf")
    fig.suptitle(f"100-byte records, ~{report['config']['records']:,} per run, librdkafka mock cluster "
                 + (f"(producer: {conf}) " if conf else "") + "(medians, bars: min–max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(path):
    path = Path(path)
    report = json.loads(path.read_text())
    path.with_suffix(".md").write_text(markdown(report))
    if "scale" in report:
        plot(report, path.with_suffix(".png"))
    print(path.with_suffix(".md").read_text())
    return 0


def main():
    args = parse_args()
    if args.render:
        return render(args.render)
    for b in (BIN / "mock-cluster-launcher", BIN / "rdkafka_produce", BIN / "rdkafka_consume", OURS):
        if not b.exists():
            sys.exit(f"bench_scale.py: {b} missing: run scripts/bench.sh --scale (it builds everything)")
    out = Path(args.out)
    log_dir = out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for f in log_dir.glob("*.log"):
        f.unlink()
    cases = [c for c in args.cases.split(",") if c]
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    report = {
        "environment": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "librdkafka": librdkafka_version(), "git": git,
                        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg())},
        "config": {"cases": cases, "partitions": args.partitions, "records": args.records, "runs": args.runs,
                   "before_runs": args.before_runs if args.before else 0, "produce_conf": args.produce_conf,
                   "idle_partitions": args.idle_partitions, "idle_s": args.idle_s, "idle_runs": args.idle_runs,
                   "group_partitions": args.group_partitions, "group_records": args.group_records,
                   "group_runs": args.group_runs, "max_background": args.max_background},
        "targets": TARGETS,
    }
    t0 = time.monotonic()
    name = out / "scale"
    for case, fn in (("scale", run_scale), ("idle", run_idle), ("group", run_group)):
        if case in cases:
            report[case] = fn(args, log_dir)
            name.with_suffix(".json").write_text(json.dumps(report, indent=1))
    report["environment"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report["environment"]["duration_s"] = round(time.monotonic() - t0, 1)
    name.with_suffix(".json").write_text(json.dumps(report, indent=1))
    name.with_suffix(".md").write_text(markdown(report))
    if "scale" in report:
        try:
            plot(report, name.with_suffix(".png"))
        except ImportError:
            print("bench_scale.py: matplotlib missing, no plot (pip install matplotlib)", file=sys.stderr)
    print(name.with_suffix(".md").read_text())
    failed = [c["partitions"] for k in ("scale", "idle") if k in report for c in report[k]["cells"] if c["errors"]]
    failed += [f"group {r['implementation']} {r['run']}" for r in report.get("group", {}).get("runs", [])
               if "error" in r]
    if failed:
        print(f"bench_scale.py: failures in: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
