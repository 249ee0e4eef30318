#!/usr/bin/env python3
"""Side-by-side consumer benchmark: this library's KafkaConsumer vs librdkafka's.

For each scenario (value size x partitions x codec) it starts a fresh librdkafka mock
cluster, fills a topic with bench/rdkafka_produce, then runs the two consumers
alternately, each as a child process measured with os.wait4 (user+sys CPU, peak RSS).
Each consumer prints one JSON line (records, bytes, checksum, time to the first record,
wall time from just before assign to the last record); checksums must agree.

Normally run through scripts/bench.sh, which builds the binaries first. Outputs
bench/results/{results.json,results.md,plot.png}.

    scripts/bench.py                               # the full matrix, 3 runs each
    scripts/bench.py --sizes 100 --partitions 1,4 --codecs none --runs 1   # a quick run
    BENCH_SIZES=100 BENCH_RUNS=1 scripts/bench.py  # the same through the environment

The mock cluster keeps at most 5 MiB of batches per partition (librdkafka's
rdkafka_mock.c: max_size = 5 MiB, max_cnt = 100000 batches) and evicts the oldest beyond
that, so the default record count fills about 4 MiB per partition (uncompressed). Both
consumers read exactly [low, high) as measured after producing, whatever was evicted.
"""

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "bench"
OURS = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release" / "examples" / "bench_consume"
RESULTS = ROOT / "bench" / "results"

FETCH_MAX_BYTES = 50 * 1024 * 1024  # the default of both consumers
TARGETS = {
    "throughput": "wall rec/s >= 1.0x librdkafka",
    "cpu": "CPU per record (consuming) <= 0.2x librdkafka",
    "first": "first record <= 50 ms after assign",
    "rss": "peak RSS <= 2 x fetch.max.bytes + 16 MiB = 116 MiB",
}
PER_PARTITION_BYTES = 4 * 1024 * 1024  # stays under the mock cluster's 5 MiB per partition


def env_list(name, default):
    return os.environ.get(name, default)


# ---------------------------------------------------------------- machine load

def proc_cpu_s(pid):
    """User+sys CPU seconds of a running process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def system_busy_s():
    """CPU seconds all CPUs spent busy since boot (/proc/stat: everything but idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return (sum(ticks[:7]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def wait_quiet(limit, max_wait, pids, vanished_as_zero=False):
    """Waits (1 s samples, at most max_wait s) until everything but pids keeps at most limit
    CPUs busy; returns the last sample (None when it cannot be read, or when one of pids has
    gone, unless vanished_as_zero counts a gone process as idle)."""
    deadline = time.monotonic() + max_wait
    busy = None
    while True:
        b0, own0 = system_busy_s(), [proc_cpu_s(p) for p in pids]
        time.sleep(1.0)
        b1, own1 = system_busy_s(), [proc_cpu_s(p) for p in pids]
        if vanished_as_zero:
            own0, own1 = [x or 0 for x in own0], [x or 0 for x in own1]
        if None in (b0, b1) or None in own0 or None in own1:
            return None
        busy = max(0.0, (b1 - b0) - sum(own1) + sum(own0))
        if busy <= limit or time.monotonic() >= deadline:
            return busy


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=env_list("BENCH_SIZES", "100,1024"), help="value sizes in bytes")
    ap.add_argument("--partitions", default=env_list("BENCH_PARTITIONS", "1,4,16"))
    ap.add_argument("--codecs", default=env_list("BENCH_CODECS", "none,lz4,zstd"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")),
                    help="runs of each consumer per scenario (alternating)")
    ap.add_argument("--records", type=int, default=int(os.environ.get("BENCH_RECORDS", "0")),
                    help="records per partition (default: ~4 MiB of values per partition)")
    ap.add_argument("--pass-bytes", type=float, default=float(os.environ.get("BENCH_PASS_MB", "32")),
                    help="MB each consumer run reads at least: a run re-reads the topic "
                         "(seek to beginning) until then, at most 10 passes (CPU per record then "
                         "covers more than start-up)")
    ap.add_argument("--brokers", type=int, default=int(os.environ.get("BENCH_BROKERS", "3")))
    ap.add_argument("--stall", type=float, default=float(os.environ.get("BENCH_STALL_S", "15")),
                    help="a consumer gives up after this many seconds without a record")
    ap.add_argument("--cold", action="store_true", default=bool(os.environ.get("BENCH_COLD")),
                    help="start the clock on a cold consumer (by default both consumers fetch the "
                         "topic's metadata before the clock starts)")
    ap.add_argument("--out", default=str(RESULTS))
    return ap.parse_args()


class MockCluster:
    """tests/mock-cluster/launcher.c over its stdin/stdout line protocol."""

    def __init__(self, brokers, log_path, launcher=None):
        """`launcher`: the launcher binary (default: the one linked to Debian's librdkafka)."""
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [str(launcher or BIN / "mock-cluster-launcher"), str(brokers)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        banner = self.proc.stdout.readline().strip()
        if not banner.startswith("BOOTSTRAP "):
            raise RuntimeError(f"mock cluster did not start: {banner!r}")
        self.bootstrap = banner.split(" ", 1)[1]

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply.startswith("OK"):
            raise RuntimeError(f"mock cluster: {line}: {reply}")
        return reply[2:].strip()

    def close(self):
        try:
            self.cmd("quit")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_measured(argv, timeout, env=None, stderr_path=None):
    """Runs argv as a child; returns (rc, stdout, wall_s, cpu_s, maxrss_kib)."""
    err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
    killer = threading.Timer(timeout, lambda: proc.send_signal(signal.SIGKILL))
    killer.start()
    try:
        out = proc.stdout.read().decode()
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
        proc.returncode = 0  # reaped by wait4 already
        if stderr_path:
            err.close()
    wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    return rc, out, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def scenario_name(size, parts, codec):
    return f"{size}B/{parts}p/{codec}"


def run_scenario(args, size, parts, codec, log_dir):
    name = scenario_name(size, parts, codec)
    per_part = args.records or PER_PARTITION_BYTES // (size + 30)
    n = per_part * parts
    topic = f"bench-{size}-{parts}-{codec}"
    cluster = MockCluster(args.brokers, log_dir / "mock-cluster.log")
    result = {"scenario": name, "value_size": size, "partitions": parts, "codec": codec,
              "produced": n, "runs": {"ours": [], "librdkafka": []}, "errors": []}
    try:
        # librdkafka 2.0.2's mock answers ListOffsets v4/v5 with 4 bytes more per partition
        # than the schema has (measured: 26+4 bytes each), so a multi-partition answer
        # misparses after its first partition and our consumer never starts the rest of
        # that broker's partitions. v3 has no such problem; both consumers then use it.
        cluster.cmd("apiversion 2 0 3")
        cluster.cmd(f"create_topic {topic} {parts} 1")
        # The mock picks leaders at random; spread them round-robin instead, so every run
        # of a scenario sees the same placement (partition p on broker p % brokers + 1).
        for p in range(parts):
            cluster.cmd(f"partition_leader {topic} {p} {p % args.brokers + 1}")
        prod = subprocess.run(
            [str(BIN / "rdkafka_produce"), cluster.bootstrap, topic, str(parts), str(n), str(size), codec],
            capture_output=True, text=True, timeout=300)
        if prod.returncode != 0:
            raise RuntimeError(f"producer failed: {prod.stderr.strip()}")
        produced = json.loads(prod.stdout)
        low, high = produced["low"], produced["high"]
        expected = sum(h - l for l, h in zip(low, high))
        result.update(produce_ms=produced["ms"], low=low, high=high, expected_records=expected)
        if expected != n:
            print(f"  note: the mock cluster evicted {n - expected} of {n} records; "
                  f"reading the {expected} left", flush=True)
        ends = ",".join(str(h) for h in high)
        pass_bytes = expected * (size + len("key-") + len(str(n)))
        passes = max(1, min(10, -(-int(args.pass_bytes * 1e6) // max(pass_bytes, 1))))
        result["passes"] = passes
        env = dict(os.environ, BENCH_STALL_S=str(args.stall))
        env.pop("BENCH_COLD", None)
        if args.cold:
            env["BENCH_COLD"] = "1"
        cmds = {
            "ours": [str(OURS), cluster.bootstrap, topic, str(parts), ends, str(passes)],
            "librdkafka": [str(BIN / "rdkafka_consume"), cluster.bootstrap, topic, str(parts), ends,
                           str(passes)],
        }
        for r in range(args.runs):
            order = ["ours", "librdkafka"] if r % 2 == 0 else ["librdkafka", "ours"]
            for who in order:
                rc, out, wall, cpu, rss = run_measured(
                    cmds[who], args.stall * 2 + 30, env, log_dir / f"{who}.stderr.log")
                run = {"rc": rc, "process_wall_s": wall, "cpu_s": cpu, "maxrss_kib": rss}
                try:
                    run.update(json.loads(out.strip().splitlines()[-1]))
                except (ValueError, IndexError):
                    pass
                if rc != 0 or "records" not in run:
                    msg = f"{who} run {r + 1}: exit {rc} (see {log_dir / (who + '.stderr.log')})"
                    result["errors"].append(msg)
                    print(f"  FAILED: {msg}", flush=True)
                elif run["records"] != expected * passes or run["pass_records"] != expected:
                    msg = (f"{who} run {r + 1}: read {run['records']} records, "
                           f"expected {expected} x {passes} passes")
                    result["errors"].append(msg)
                    print(f"  FAILED: {msg}", flush=True)
                result["runs"][who].append(run)
                print(f"  {who:10} run {r + 1}: " + (
                    f"wall {run['wall_ms']:9.1f} ms, first {run['t_first_record_ms']:7.1f} ms, "
                    f"cpu {cpu:6.3f} s, rss {run.get('peak_rss_kib', rss) / 1024:6.1f} MiB"
                    if "wall_ms" in run else "failed"),
                    flush=True)
    except Exception as e:  # noqa: BLE001 - one broken scenario must not end the run
        result["errors"].append(str(e))
        print(f"  FAILED: {e}", flush=True)
    finally:
        cluster.close()
    checksums = {run.get("checksum") for runs in result["runs"].values() for run in runs
                 if run.get("pass_records") == result.get("expected_records")}
    if len(checksums) > 1:
        result["errors"].append(f"checksums differ: {sorted(checksums)}")
        print(f"  FAILED: checksums differ: {sorted(checksums)}", flush=True)
    result["summary"] = summarize(result)
    return result


def summarize(result):
    out = {}
    for who, runs in result["runs"].items():
        ok = [r for r in runs if r.get("rc") == 0 and "pass_records" in r
              and r["pass_records"] == result.get("expected_records")
              and r["records"] == r["pass_records"] * result.get("passes", 1)]
        if not ok:
            out[who] = None
            continue
        wall_s = median([r["wall_ms"] / 1e3 for r in ok])
        out[who] = {
            "ok_runs": len(ok),
            "records": ok[0]["pass_records"],
            "bytes": ok[0]["pass_bytes"],
            "passes": ok[0]["passes"],
            # Throughput and first record: the first pass (from just before assign).
            "wall_ms": wall_s * 1e3,
            "records_per_s": median([r["pass_records"] / (r["wall_ms"] / 1e3) for r in ok]),
            "mb_per_s": median([r["pass_bytes"] / 1e6 / (r["wall_ms"] / 1e3) for r in ok]),
            "total_ms": median([r["total_ms"] for r in ok]),
            # CPU while consuming: all threads, from just before assign to the last record of
            # the last pass (each program reads its own /proc/self/task/*/schedstat). This is
            # the per-record cost; the process figure adds start-up and teardown.
            "cpu_us_per_record": median([r["cpu_ms"] * 1e3 / r["records"] for r in ok]),
            # CPU (user+sys) of the whole process over all passes (os.wait4).
            "cpu_s": median([r["cpu_s"] for r in ok]),
            "process_cpu_us_per_record": median([r["cpu_s"] * 1e6 / r["records"] for r in ok]),
            # VmHWM as the program reports it: wait4's ru_maxrss would include the pages of
            # the forked Python parent the child held before exec (~16 MiB).
            "peak_rss_mib": median([r.get("peak_rss_kib", r["maxrss_kib"]) / 1024 for r in ok]),
            "first_record_ms": median([r["t_first_record_ms"] for r in ok]),
            "process_wall_s": median([r["process_wall_s"] for r in ok]),
        }
    ours, lib = out.get("ours"), out.get("librdkafka")
    if ours and lib:
        out["ratio"] = {k: (ours[k] / lib[k] if lib[k] else None)
                        for k in ("wall_ms", "records_per_s", "mb_per_s", "cpu_s", "cpu_us_per_record",
                                  "process_cpu_us_per_record", "peak_rss_mib", "first_record_ms")}
    if ours:
        ratio = out.get("ratio", {})
        tput, cpu = ratio.get("records_per_s"), ratio.get("cpu_us_per_record")
        out["pass"] = {
            "throughput": tput is not None and tput >= 1.0,
            "cpu": cpu is not None and cpu <= 0.2,
            "first": ours["first_record_ms"] <= 50.0,
            "rss": ours["peak_rss_mib"] <= 2 * FETCH_MAX_BYTES / 2**20 + 16,
        }
    return out


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def markdown(report):
    env = report["environment"]
    lines = [
        "# Consumer benchmark: consumer-net KafkaConsumer vs librdkafka",
        "",
        f"{env['date']} · {env['machine']} · {env['cpus']} CPUs · librdkafka {env['librdkafka']} · "
        f"git {env['git']} · load before: {env['load_before']} · after: {env['load_after']}",
        "",
        f"librdkafka mock cluster, {report['config']['brokers']} brokers, partition p led by broker "
        "p % brokers + 1 (ListOffsets capped at v3: the "
        "2.0.2 mock's v4+ answers are malformed); records produced by librdkafka "
        "(linger.ms=5, default batching); medians of "
        f"{report['config']['runs']} alternating runs per consumer. Both consumers use default "
        "configurations (fetch.max.bytes 50 MiB; ours: check.crcs=true (Java default), librdkafka: "
        "check.crcs=false (its default)); librdkafka additionally has group.id set (rd_kafka_assign "
        "needs one) and enable.auto.commit=false. Wall time runs from just before assign to the last "
        "record. CPU µs/rec is the CPU time of all the process's threads while consuming (from just "
        "before assign to the last record of the last pass, read from /proc/self/task/*/schedstat by "
        "each program) per record; process CPU s is user+sys of the whole process from exec to exit "
        "(os.wait4), start-up and teardown included. Peak RSS is the process's VmHWM. "
        + ("Cold start: the clock starts on a fresh consumer."
           if report["config"]["cold"] else
           "Warm start: both consumers look up the topic's metadata before the clock starts."),
        "",
        "Wall, rec/s, MB/s and first record are of the first pass over the topic; each run then "
        "seeks back to the beginning and re-reads it (`passes` times in all) so that the CPU "
        "figures, of the whole process over all passes, are dominated by consuming rather than "
        "start-up. Each re-read starts with a ~0.5 s pause for both consumers (the fetch parked "
        "at the end offset waits fetch.max.wait / fetch.wait.max.ms on the mock), which is why "
        "wall time is taken from the first pass.",
        "",
        "| scenario | records/pass | passes | consumer | wall ms | rec/s | MB/s | CPU µs/rec | process CPU s | process CPU µs/rec | peak RSS MiB | first rec ms |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["scenarios"]:
        summ = s["summary"]
        rows = [("ours", summ.get("ours")), ("librdkafka", summ.get("librdkafka"))]
        for who, m in rows:
            if m is None:
                lines.append(f"| {s['scenario']} | {s.get('expected_records', '—')} | "
                             f"{s.get('passes', '—')} | {who} | failed | | | | | | | |")
                continue
            lines.append(
                f"| {s['scenario']} | {m['records']} | {m['passes']} | {who} | {m['wall_ms']:.1f} | {m['records_per_s']:,.0f} | "
                f"{m['mb_per_s']:.1f} | {m['cpu_us_per_record']:.3f} | {m['cpu_s']:.3f} | "
                f"{m['process_cpu_us_per_record']:.3f} | "
                f"{m['peak_rss_mib']:.1f} | {m['first_record_ms']:.1f} |")
        r = summ.get("ratio")
        if r:
            lines.append(
                f"| {s['scenario']} | | | **ours/librdkafka** | {fmt(r['wall_ms'], '.2f')}× | "
                f"{fmt(r['records_per_s'], '.2f')}× | {fmt(r['mb_per_s'], '.2f')}× | "
                f"{fmt(r['cpu_us_per_record'], '.2f')}× | {fmt(r['cpu_s'], '.2f')}× | "
                f"{fmt(r['process_cpu_us_per_record'], '.2f')}× | {fmt(r['peak_rss_mib'], '.2f')}× | "
                f"{fmt(r['first_record_ms'], '.3f')}× |")
    lines += ["", "## Targets (ours)", "",
              "| scenario | " + " | ".join(TARGETS.values()) + " | errors |",
              "|---|" + "---|" * len(TARGETS) + "---|"]
    for s in report["scenarios"]:
        p = s["summary"].get("pass")
        cells = [("PASS" if p[k] else "FAIL") if p else "FAIL" for k in TARGETS]
        errs = "; ".join(s["errors"]) if s["errors"] else ""
        lines.append(f"| {s['scenario']} | " + " | ".join(cells) + f" | {errs} |")
    lines.append("")
    return "\n".join(lines)


def plot(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["scenario"] for s in report["scenarios"]]

    def series(who, key):
        return [((s["summary"].get(who) or {}).get(key) or 0) for s in report["scenarios"]]

    x = list(range(len(names)))
    w = 0.4
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.7 * len(names) + 3), 8), sharex=True)
    for ax, key, title in ((axes[0], "records_per_s", "records/s (wall, higher is better)"),
                           (axes[1], "cpu_us_per_record", "CPU µs per record while consuming (lower is better)")):
        ax.bar([i - w / 2 for i in x], series("ours", key), w, label="consumer-net (ours)", color="#d95f02")
        ax.bar([i + w / 2 for i in x], series("librdkafka", key), w, label="librdkafka", color="#1b9e77")
        ax.set_title(title)
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        ax.legend()
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(names, rotation=45, ha="right")
    fig.suptitle("KafkaConsumer vs librdkafka on the librdkafka mock cluster (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def librdkafka_version():
    try:
        return subprocess.run(["pkg-config", "--modversion", "rdkafka"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"



class EventChild:
    """A child that prints one JSON event per line (bench_scale.py's and bench_groups.py's
    group members): its events are read as they come, on a thread of their own; `out`
    (a path) keeps a copy of every line. `stop` sends `stop_command` on its stdin."""

    def __init__(self, cmd, env, err_path, stop_command, out_path=None):
        self.stop_command = stop_command
        self.err = open(err_path, "ab")
        self.out = open(out_path, "w") if out_path else None
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     env=env, text=True, bufsize=1)
        self.events, self.lock = [], threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if self.out:
                self.out.write(line)
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def stop(self, timeout):
        """Asks the child to end, kills it after `timeout` s; returns its exit code."""
        try:
            self.proc.stdin.write(self.stop_command + "\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        for f in (self.err, self.out):
            if f:
                f.close()
        return self.proc.returncode


def wait_for(cond, timeout, what, step=0.05):
    """Polls `cond` every `step` s until it holds; raises after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")

def main():
    args = parse_args()
    for b in (BIN / "mock-cluster-launcher", BIN / "rdkafka_produce", BIN / "rdkafka_consume", OURS):
        if not b.exists():
            sys.exit(f"bench.py: {b} missing: run scripts/bench.sh (it builds everything)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_dir = out / "logs"
    log_dir.mkdir(exist_ok=True)
    for f in log_dir.glob("*.log"):
        f.unlink()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    parts = [int(p) for p in args.partitions.split(",") if p]
    codecs = [c for c in args.codecs.split(",") if c]
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    report = {
        "environment": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "librdkafka": librdkafka_version(),
            "git": git,
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        },
        "config": {"sizes": sizes, "partitions": parts, "codecs": codecs, "runs": args.runs,
                   "records_per_partition": args.records or "auto (~4 MiB of values)",
                   "brokers": args.brokers, "stall_s": args.stall, "cold": args.cold, "fetch_max_bytes": FETCH_MAX_BYTES},
        "targets": TARGETS,
        "scenarios": [],
    }
    t0 = time.monotonic()
    for size in sizes:
        for p in parts:
            for codec in codecs:
                print(f"== {scenario_name(size, p, codec)} (load {os.getloadavg()[0]:.2f})", flush=True)
                report["scenarios"].append(run_scenario(args, size, p, codec, log_dir))
                (out / "results.json").write_text(json.dumps(report, indent=1))
    report["environment"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report["environment"]["duration_s"] = round(time.monotonic() - t0, 1)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    (out / "results.md").write_text(markdown(report))
    try:
        plot(report, out / "plot.png")
    except ImportError:
        print("bench.py: matplotlib missing, no plot (pip install matplotlib)", file=sys.stderr)
    print((out / "results.md").read_text())
    failed = [s["scenario"] for s in report["scenarios"] if s["errors"]]
    if failed:
        print(f"bench.py: runs failed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
