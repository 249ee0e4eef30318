#!/usr/bin/env python3
"""A SASL-terminating gateway in front of a Kafka broker, for tests.

Clients connect to the gateway and authenticate as they would with a Kafka
broker configured for SASL (SaslHandshake v0/v1, SaslAuthenticate v0-v2,
mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER). The gateway
checks the credentials itself -- SCRAM with the independent server-side
implementation of PyPI `scramp` -- and from then on forwards the
connection's Kafka requests, unchanged, over one upstream connection to a
plaintext broker (which has to advertise the gateway's address, or that of
a TLS terminator in front of it, as its listener).

Behaviour follows Apache Kafka's SaslServerAuthenticator:

* ApiVersions is forwarded to the broker (before or after authentication);
  its answer is patched to list SaslHandshake v0-1 and SaslAuthenticate v0-2.
* SaslHandshake with a mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM
  (33) with the enabled list, then the connection is closed.
* Bad credentials: SASL_AUTHENTICATION_FAILED (58) with a message, then close.
  OAUTHBEARER failures take RFC 7628's two steps (an error challenge, the
  client's %x01, then the error), as Kafka's OAuthBearerSaslServer does.
* Any other request before authentication completes: the connection is
  closed (Kafka: IllegalSaslStateException).
* SaslHandshake v0 switches to raw SASL tokens (size-prefixed, no Kafka
  header) as in Kafka; v1 uses SaslAuthenticate.
* KIP-368: SaslAuthenticate v1+ answers carry session_lifetime_ms (the
  configured --session-lifetime-ms; 0 = none; for OAUTHBEARER capped by
  the token's exp). After authentication the client may re-authenticate
  (SaslHandshake + SaslAuthenticate, same mechanism and principal); those
  are answered once every forwarded request of the connection has been
  answered, so responses stay in order. A non-SASL request after the
  session expired closes the connection.

Fault injection (--control-file PATH): while the file holds a number K > 0,
the next K SaslAuthenticate requests (SaslHandshake v1 exchanges, first
authentication or re-authentication) are not answered: the gateway writes
K - 1 back to the file, logs cut_auth and closes the connection, as a
broker or a network dying in the middle of the SASL exchange. The file is
re-read at every SaslAuthenticate; write it atomically (write and rename).

Every decision is written to a JSON-lines event log (--events), one object
per line with at least "ts" (Unix seconds) and "event":
  listening {port}
  connection {conn, peer}
  handshake {conn, mechanism, version, ok, reauth}
  auth_success {conn, mechanism, user, reauth, session_lifetime_ms, version}
  auth_failure {conn, mechanism, user, reauth, reason}
  illegal_request {conn, api_key, api_version, state}
  expired_close {conn, mechanism, user, api_key, expired_ms_ago}
  upstream_error {conn, error}
  cut_auth {conn, mechanism, version, reauth, left}
  closed {conn, forwarded, authenticated}
Passwords and tokens are never logged.
"""

import argparse
import base64
import collections
import json
import os
import socket
import struct
import sys
import threading
import time

try:
    from scramp import ScramMechanism
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.stderr.write("MISSING scramp: %s\n" % e)
    sys.exit(97)

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36

UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58

ALL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
# What the gateway serves, patched into the broker's ApiVersions answer.
SASL_APIS = {SASL_HANDSHAKE: (0, 1), SASL_AUTHENTICATE: (0, 2)}

MAX_FRAME = 100 * 1024 * 1024


class Events:
    """The JSON-lines event log (thread-safe, flushed per line)."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", encoding="utf-8")

    def emit(self, event, **fields):
        rec = {"ts": round(time.time(), 6), "event": event}
        rec.update(fields)
        line = json.dumps(rec, sort_keys=False)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


# ---------------------------------------------------------------- encoding


class Malformed(Exception):
    pass


class Reader:
    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise Malformed("truncated frame")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        shift = 0
        value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise Malformed("varint too long")

    def nullable_string(self):
        n = self.i16()
        if n < 0:
            return None
        return self.take(n).decode("utf-8", "replace")

    def bytes_(self):
        n = self.i32()
        if n < 0:
            return None
        return self.take(n)

    def compact_bytes(self):
        n = self.uvarint()
        if n == 0:
            return None
        return self.take(n - 1)

    def tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def rest(self):
        return self.buf[self.pos:]


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string(s):
    b = s.encode("utf-8")
    return struct.pack(">h", len(b)) + b


def nullable_string(s):
    if s is None:
        return struct.pack(">h", -1)
    return string(s)


def compact_nullable_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode("utf-8")
    return uvarint(len(b) + 1) + b


def bytes_(b):
    return struct.pack(">i", len(b)) + b


def compact_bytes(b):
    return uvarint(len(b) + 1) + b


def flexible_request(api_key, version):
    return (api_key == API_VERSIONS and version >= 3) or (
        api_key == SASL_AUTHENTICATE and version >= 2
    )


def parse_request_header(body):
    """(api_key, version, correlation_id, Reader at the request body)."""
    r = Reader(body)
    api_key = r.i16()
    version = r.i16()
    corr = r.i32()
    r.nullable_string()  # client_id (also in the v2 header)
    if flexible_request(api_key, version):
        r.tagged_fields()
    return api_key, version, corr, r


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf.extend(chunk)
    return bytes(buf)


def read_frame(sock):
    head = read_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">i", head)
    if n < 0 or n > MAX_FRAME:
        raise Malformed("frame size %d" % n)
    return read_exact(sock, n)


def patch_api_versions(version, body):
    """The broker's ApiVersions answer (body after the v0 response header)
    with the gateway's SASL versions in place of the broker's."""
    r = Reader(body)
    error_code = r.i16()
    if error_code != 0:
        return body  # e.g. UNSUPPORTED_VERSION, in v0 layout: pass through
    flexible = version >= 3
    n = r.uvarint() - 1 if flexible else r.i32()
    entries = []
    for _ in range(max(n, 0)):
        key, lo, hi = r.i16(), r.i16(), r.i16()
        start = r.pos
        if flexible:
            r.tagged_fields()
        entries.append((key, lo, hi, body[start:r.pos]))
    rest = r.rest()
    entries = [e for e in entries if e[0] not in SASL_APIS]
    for key, (lo, hi) in SASL_APIS.items():
        entries.append((key, lo, hi, b"\x00" if flexible else b""))
    entries.sort(key=lambda e: e[0])
    out = bytearray(struct.pack(">h", 0))
    out += uvarint(len(entries) + 1) if flexible else struct.pack(">i", len(entries))
    for key, lo, hi, tags in entries:
        out += struct.pack(">hhh", key, lo, hi) + tags
    out += rest
    return bytes(out)


# ---------------------------------------------------------------- mechanisms


class AuthFailed(Exception):
    """message goes to the client; reason (default: message) to the event log."""

    def __init__(self, message, user=None, reason=None):
        super().__init__(message)
        self.message = message
        self.user = user
        self.reason = reason or message


class Plain:
    def __init__(self, cfg):
        self.cfg = cfg
        self.user = None

    def step(self, token):
        """(done, response bytes); raises AuthFailed."""
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise AuthFailed("Invalid SASL/PLAIN response: expected 3 tokens")
        authzid, user, password = (p.decode("utf-8", "replace") for p in parts)
        self.user = user
        if not user:
            raise AuthFailed("Authentication failed: username not specified")
        if authzid and authzid != user:
            raise AuthFailed(
                "Authentication failed: Client requested an authorization id that "
                "is different from username",
                user,
            )
        if self.cfg.passwords.get(user) != password:
            raise AuthFailed("Authentication failed: Invalid username or password", user)
        return True, b""


class Scram:
    def __init__(self, cfg, mechanism):
        self.mechanism = mechanism
        self.user = None
        m = cfg.scram[mechanism]
        self.db = cfg.scram_info[mechanism]
        self.server = m.make_server(self.lookup)
        self.stage = 0

    def lookup(self, username):
        self.user = username
        if username not in self.db:
            raise AuthFailed("Authentication failed: Invalid user credentials", username)
        return self.db[username]

    def failed(self):
        return AuthFailed(
            "Authentication failed during authentication due to invalid credentials "
            "with SASL mechanism %s" % self.mechanism,
            self.user,
        )

    def step(self, token):
        text = token.decode("utf-8", "replace")
        try:
            if self.stage == 0:
                self.stage = 1
                self.server.set_client_first(text)
                return False, self.server.get_server_first().encode("utf-8")
            if self.stage == 1:
                self.stage = 2
                self.server.set_client_final(text)
                return True, self.server.get_server_final().encode("utf-8")
        except AuthFailed:
            raise
        except Exception as e:  # scramp.ScramException and parse errors
            sys.stderr.write("scram %s: %s\n" % (self.mechanism, e))
            raise self.failed()
        raise AuthFailed("Unexpected SASL token after SCRAM completed", self.user)


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class OAuthBearer:
    def __init__(self, cfg):
        self.cfg = cfg
        self.user = None
        self.error = None  # (challenge, reason) once the token was refused
        self.expires_at = None  # Unix seconds, from the token's exp

    def step(self, token):
        if self.error is not None:
            # RFC 7628 3.2.3: the client acknowledges the error challenge
            # with %x01; Kafka then fails with the challenge as the message.
            challenge, reason = self.error
            if token != b"\x01":
                reason += " (and the client did not acknowledge the error with %x01)"
            raise AuthFailed(challenge, self.user, reason)
        try:
            self.user, self.expires_at = self.validate(token)
            return True, b""
        except AuthFailed as e:
            challenge = json.dumps({"status": "invalid_token"})
            self.error = (challenge, e.reason)
            self.user = e.user
            return False, challenge.encode("utf-8")

    def validate(self, msg):
        text = msg.decode("utf-8", "replace")
        gs2, sep, kvs = text.partition("\x01")
        if not sep or not gs2.startswith("n,") or not kvs.endswith("\x01\x01"):
            raise AuthFailed("Invalid OAUTHBEARER client first message")
        fields = {}
        for kv in kvs[:-2].split("\x01"):
            k, eq, v = kv.partition("=")
            if not eq:
                raise AuthFailed("Invalid OAUTHBEARER key/value pair")
            fields[k] = v
        auth = fields.get("auth", "")
        if not auth.lower().startswith("bearer "):
            raise AuthFailed("Invalid OAUTHBEARER auth field: expected a Bearer token")
        token = auth[len("bearer "):].strip()
        if token in self.cfg.oauth_tokens:
            return self.cfg.oauth_tokens[token], None
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthFailed("OAUTHBEARER token is neither a known token nor a JWT")
        try:
            header = json.loads(b64url(parts[0]))
            claims = json.loads(b64url(parts[1]))
        except Exception:
            raise AuthFailed("OAUTHBEARER token is not a valid unsecured JWT")
        sub = claims.get("sub")
        if header.get("alg") != "none":
            raise AuthFailed("OAUTHBEARER JWT must be unsecured (alg none)", sub)
        if sub not in self.cfg.oauth_principals:
            raise AuthFailed("OAUTHBEARER principal is not accepted", sub)
        exp = claims.get("exp")
        if exp is not None and float(exp) <= time.time():
            raise AuthFailed("OAUTHBEARER token expired", sub)
        return sub, (float(exp) if exp is not None else None)


def make_mechanism(cfg, name):
    if name == "PLAIN":
        return Plain(cfg)
    if name.startswith("SCRAM-"):
        return Scram(cfg, name)
    return OAuthBearer(cfg)


# ---------------------------------------------------------------- connections


class Closed(Exception):
    pass


class Connection:
    ids = iter(range(1, 1 << 62))
    ids_lock = threading.Lock()

    def __init__(self, cfg, events, client, peer):
        with Connection.ids_lock:
            self.id = next(Connection.ids)
        self.cfg = cfg
        self.events = events
        self.client = client
        self.peer = peer
        self.upstream = None
        self.write_lock = threading.Lock()
        self.cond = threading.Condition()
        self.pending = collections.deque()  # (api_key, version) forwarded
        self.forwarded = 0
        self.closed = False
        # handshake | authenticate | raw | authenticated
        self.state = "handshake"
        self.reauth = False
        self.mechanism = None
        self.auth = None
        self.user = None
        self.expires_at = None  # monotonic seconds, None = no expiry

    # -- plumbing

    def emit(self, event, **fields):
        self.events.emit(event, conn=self.id, **fields)

    def send(self, data):
        with self.write_lock:
            self.client.sendall(data)

    def send_response(self, corr, body, flexible_header=False):
        head = struct.pack(">i", corr) + (b"\x00" if flexible_header else b"")
        payload = head + body
        self.send(struct.pack(">i", len(payload)) + payload)

    def close(self, linger=False):
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.notify_all()
        if linger:
            # Let the client read the last answer before the close: no RST
            # from unread input, as Kafka delays the close of a failed login.
            try:
                self.client.shutdown(socket.SHUT_WR)
                self.client.settimeout(1.0)
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline and self.client.recv(65536):
                    pass
            except OSError:
                pass
        for s in (self.client, self.upstream):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.emit(
            "closed",
            forwarded=self.forwarded,
            authenticated=self.user is not None and self.state == "authenticated",
        )

    def connect_upstream(self):
        if self.upstream is not None:
            return
        try:
            self.upstream = socket.create_connection(self.cfg.upstream, timeout=10)
            self.upstream.settimeout(None)
            self.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            self.emit("upstream_error", error=str(e))
            raise Closed()
        threading.Thread(
            target=self.upstream_loop, name="upstream-%d" % self.id, daemon=True
        ).start()

    def forward(self, api_key, version, frame):
        self.connect_upstream()
        with self.cond:
            self.pending.append((api_key, version))
            self.forwarded += 1
        try:
            self.upstream.sendall(struct.pack(">i", len(frame)) + frame)
        except OSError as e:
            self.emit("upstream_error", error=str(e))
            raise Closed()

    def upstream_loop(self):
        try:
            while True:
                frame = read_frame(self.upstream)
                if frame is None:
                    break
                with self.cond:
                    if not self.pending:
                        break
                    api_key, version = self.pending[0]
                if api_key == API_VERSIONS and len(frame) >= 4:
                    frame = frame[:4] + patch_api_versions(version, frame[4:])
                self.send(struct.pack(">i", len(frame)) + frame)
                with self.cond:
                    self.pending.popleft()
                    self.cond.notify_all()
        except (OSError, Malformed):
            pass
        self.close()

    def wait_drained(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Closed()
                self.cond.wait(left)
            if self.closed:
                raise Closed()

    # -- the client side

    def run(self):
        self.emit("connection", peer="%s:%d" % self.peer)
        try:
            while True:
                frame = read_frame(self.client)
                if frame is None:
                    break
                if self.state == "raw":
                    self.raw_token(frame)
                else:
                    self.request(frame)
        except (Closed, Malformed, OSError) as e:
            if isinstance(e, Malformed):
                self.emit("illegal_request", api_key=None, api_version=None,
                          state=self.state, error=str(e))
        self.close()

    def illegal(self, api_key, version):
        self.emit("illegal_request", api_key=api_key, api_version=version, state=self.state)
        raise Closed()

    def request(self, frame):
        api_key, version, corr, r = parse_request_header(frame)
        if self.state == "authenticated" and api_key not in (SASL_HANDSHAKE, SASL_AUTHENTICATE):
            if self.expires_at is not None and time.monotonic() > self.expires_at:
                self.emit(
                    "expired_close",
                    mechanism=self.mechanism,
                    user=self.user,
                    api_key=api_key,
                    expired_ms_ago=int((time.monotonic() - self.expires_at) * 1000),
                )
                raise Closed()
            self.forward(api_key, version, frame)
            return
        if api_key == API_VERSIONS and self.state == "handshake" and not self.reauth:
            self.forward(api_key, version, frame)
            return
        if api_key == SASL_HANDSHAKE and self.state in ("handshake", "authenticated"):
            if version > 1:
                self.illegal(api_key, version)
            if self.state == "authenticated":
                if version < 1:
                    self.illegal(api_key, version)
                self.wait_drained()
                self.reauth = True
            self.handshake(corr, version, r.nullable_string() or "")
            return
        if api_key == SASL_AUTHENTICATE and self.state == "authenticate":
            if version > 2:
                self.illegal(api_key, version)
            left = self.cfg.take_auth_cut()
            if left is not None:
                self.emit("cut_auth", mechanism=self.mechanism, version=version,
                          reauth=self.reauth, left=left)
                raise Closed()
            token = r.compact_bytes() if version >= 2 else r.bytes_()
            self.authenticate(corr, version, token or b"")
            return
        self.illegal(api_key, version)

    def handshake(self, corr, version, mechanism):
        enabled = self.cfg.mechanisms
        ok = mechanism in enabled
        if ok and self.reauth and mechanism != self.mechanism:
            ok = False
        self.emit("handshake", mechanism=mechanism, version=version, ok=ok, reauth=self.reauth)
        body = struct.pack(">hi", 0 if ok else UNSUPPORTED_SASL_MECHANISM, len(enabled))
        for m in enabled:
            body += string(m)
        self.send_response(corr, body)
        if not ok:
            self.close(linger=True)
            raise Closed()
        self.mechanism = mechanism
        self.auth = make_mechanism(self.cfg, mechanism)
        self.state = "raw" if version == 0 else "authenticate"

    def lifetime_ms(self):
        life = self.cfg.session_lifetime_ms
        if life <= 0:
            return 0
        exp = getattr(self.auth, "expires_at", None)
        if exp is not None:
            life = max(0, min(life, int((exp - time.time()) * 1000)))
        return life

    def step(self, token):
        """Runs one SASL step: (done, challenge); raises AuthFailed."""
        done, challenge = self.auth.step(token)
        if done:
            user = self.auth.user
            if self.reauth and user != self.user:
                raise AuthFailed("Cannot change principals during re-authentication", user)
        return done, challenge

    def succeeded(self, version):
        life = self.lifetime_ms()
        self.user = self.auth.user
        self.state = "authenticated"
        self.expires_at = time.monotonic() + life / 1000.0 if life > 0 else None
        self.emit(
            "auth_success",
            mechanism=self.mechanism,
            user=self.user,
            reauth=self.reauth,
            session_lifetime_ms=life,
            version=version,
        )
        return life

    def failed(self, e):
        self.emit(
            "auth_failure",
            mechanism=self.mechanism,
            user=e.user if e.user is not None else getattr(self.auth, "user", None),
            reauth=self.reauth,
            reason=e.reason,
        )

    def authenticate(self, corr, version, token):
        flexible = version >= 2
        try:
            done, challenge = self.step(token)
        except AuthFailed as e:
            self.failed(e)
            self.send_response(
                corr,
                self.authenticate_body(version, SASL_AUTHENTICATION_FAILED, e.message, b"", 0),
                flexible,
            )
            self.close(linger=True)
            raise Closed()
        life = self.succeeded(version) if done else 0
        self.send_response(corr, self.authenticate_body(version, 0, None, challenge, life), flexible)

    @staticmethod
    def authenticate_body(version, error_code, message, auth_bytes, lifetime):
        if version >= 2:
            body = struct.pack(">h", error_code) + compact_nullable_string(message)
            body += compact_bytes(auth_bytes)
        else:
            body = struct.pack(">h", error_code) + nullable_string(message) + bytes_(auth_bytes)
        if version >= 1:
            body += struct.pack(">q", lifetime)
        if version >= 2:
            body += b"\x00"
        return body

    def raw_token(self, token):
        """SaslHandshake v0: tokens travel without Kafka headers."""
        try:
            done, challenge = self.step(token)
        except AuthFailed as e:
            self.failed(e)
            raise Closed()
        if done:
            self.succeeded(0)
        self.send(struct.pack(">i", len(challenge)) + challenge)


# ---------------------------------------------------------------- main


class Config:
    def __init__(self, args):
        host, _, port = args.upstream.rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self.mechanisms = [m.strip().upper() for m in args.mechanisms.split(",") if m.strip()]
        for m in self.mechanisms:
            if m not in ALL_MECHANISMS:
                raise SystemExit("unknown mechanism %s (known: %s)" % (m, ", ".join(ALL_MECHANISMS)))
        self.passwords = {}
        for spec in args.user or []:
            self.add_user(spec)
        if args.users_file:
            with open(args.users_file, encoding="utf-8") as f:
                for line in f:
                    line = line.rstrip("\n")
                    if line and not line.startswith("#"):
                        self.add_user(line)
        self.scram = {m: ScramMechanism(m) for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")}
        self.scram_info = {
            m: {
                u: mech.make_auth_info(p, iteration_count=args.scram_iterations)
                for u, p in self.passwords.items()
            }
            for m, mech in self.scram.items()
        }
        self.oauth_principals = set(args.oauth_principal or [])
        self.oauth_tokens = {}
        for spec in args.oauth_token or []:
            token, eq, principal = spec.rpartition("=")
            if not eq or not token or not principal:
                raise SystemExit("--oauth-token wants TOKEN=PRINCIPAL")
            self.oauth_tokens[token] = principal
        self.session_lifetime_ms = args.session_lifetime_ms
        self.control_file = args.control_file
        self.control_lock = threading.Lock()

    def take_auth_cut(self):
        """None, or the cuts left after taking one (see --control-file)."""
        if not self.control_file:
            return None
        with self.control_lock:
            try:
                with open(self.control_file, encoding="utf-8") as f:
                    k = int(f.read().strip() or "0")
            except (OSError, ValueError):
                return None
            if k <= 0:
                return None
            tmp = self.control_file + ".gw-tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("%d\n" % (k - 1))
            os.replace(tmp, self.control_file)
            return k - 1

    def add_user(self, spec):
        user, sep, password = spec.partition(":")
        if not sep or not user:
            raise SystemExit("a user is NAME:PASSWORD")
        self.passwords[user] = password


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--upstream", required=True, help="HOST:PORT of the plaintext broker")
    p.add_argument("--mechanisms", default=",".join(ALL_MECHANISMS),
                   help="comma-separated enabled mechanisms (default: all)")
    p.add_argument("--user", action="append", help="NAME:PASSWORD (repeatable)")
    p.add_argument("--users-file", help="file of NAME:PASSWORD lines")
    p.add_argument("--oauth-principal", action="append",
                   help="accept unsecured JWTs (alg none) with this sub (repeatable)")
    p.add_argument("--oauth-token", action="append",
                   help="TOKEN=PRINCIPAL: accept this opaque bearer token (repeatable)")
    p.add_argument("--session-lifetime-ms", type=int, default=0,
                   help="session_lifetime_ms granted (0: no expiry, no re-authentication)")
    p.add_argument("--scram-iterations", type=int, default=4096)
    p.add_argument("--events", required=True, help="JSON-lines event log to append to")
    p.add_argument("--control-file",
                   help="fault injection: a number K in this file cuts the next K "
                        "SaslAuthenticate requests (see the module docstring)")
    args = p.parse_args()
    cfg = Config(args)
    events = Events(args.events)

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((args.listen_host, args.listen))
    except OSError as e:
        sys.stderr.write("cannot listen on %s:%d: %s\n" % (args.listen_host, args.listen, e))
        sys.exit(2)
    srv.listen(128)
    events.emit(
        "listening",
        port=args.listen,
        upstream="%s:%d" % cfg.upstream,
        mechanisms=cfg.mechanisms,
        session_lifetime_ms=cfg.session_lifetime_ms,
    )
    sys.stderr.write("sasl gateway listening on %s:%d\n" % (args.listen_host, args.listen))
    sys.stderr.flush()
    while True:
        client, peer = srv.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(cfg, events, client, peer)
        threading.Thread(target=conn.run, name="conn-%d" % conn.id, daemon=True).start()


if __name__ == "__main__":
    main()
