#!/usr/bin/env python3
"""Protocol-level checks of the SASL gateway (sasl_gateway.py), with an
independent codec: kafka-python's, generated from Apache Kafka's JSON
message schemas.

librdkafka exercises one path through the gateway (SaslHandshake v1,
SaslAuthenticate v1, ApiVersions v3); this drives every version the
gateway advertises and its refusals, one connection per check:

  api_versions      ApiVersions v0 and v3: SaslHandshake 0-1 and
                    SaslAuthenticate 0-2 listed, broker APIs kept
  plain_vN          PLAIN with SaslAuthenticate v0, v1, v2 (flexible);
                    session_lifetime_ms on v1+; then Metadata is forwarded
  raw_v0            SaslHandshake v0: raw PLAIN token, raw answer
  scram             SCRAM-SHA-256 and -512 on v2 (scramp's client side)
  oauth_opaque      OAUTHBEARER with a configured opaque token
  oauth_bad_jwt     an unsecured JWT for an unknown principal: error
                    challenge, %x01, SASL_AUTHENTICATION_FAILED, close
  bad_password      58 with a message on v2, then the connection closes
  bad_mechanism     33 with the enabled list, then the connection closes
  before_auth       Metadata before authenticating: closed, no answer
  auth_first        SaslAuthenticate without SaslHandshake: closed
  reauth_order      Metadata then a re-authentication pipelined: answers in order
  reauth_principal  re-authenticating as the same principal with another
                    token works; as another user: 58, close
  expiry            after the session lifetime, a Metadata request: closed

Usage: gateway_check.py HOST:PORT USER PASSWORD USER2 PASSWORD2 OPAQUE_TOKEN LIFETIME_MS
(the gateway must know both users, take OPAQUE_TOKEN for USER, accept
JWTs for USER, and grant LIFETIME_MS sessions; LIFETIME_MS >= 1000). Prints
`ok <check>` per check; exits non-zero at the first failure.
"""

import base64
import json
import socket
import struct
import sys
import time

try:
    from kafka.protocol.metadata import (
        ApiVersionsRequest,
        ApiVersionsResponse,
        MetadataRequest,
        MetadataResponse,
    )
    from kafka.protocol.sasl import (
        SaslAuthenticateRequest,
        SaslAuthenticateResponse,
        SaslHandshakeRequest,
        SaslHandshakeResponse,
    )
    from scramp import ScramClient
except ImportError as e:
    sys.stderr.write("MISSING kafka-python or scramp: %s\n" % e)
    sys.exit(97)

SASL_AUTHENTICATION_FAILED = 58
UNSUPPORTED_SASL_MECHANISM = 33


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


class Conn:
    def __init__(self, addr):
        host, _, port = addr.rpartition(":")
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.corr = 0

    def send(self, cls, version, **fields):
        self.corr += 1
        req = cls[version](**fields)
        req.with_header(correlation_id=self.corr, client_id="gateway-check")
        self.s.sendall(bytes(req.encode(header=True, framed=True)))
        return self.corr

    def frame(self):
        head = self.read(4)
        check(head is not None, "connection closed while waiting for an answer")
        (n,) = struct.unpack(">i", head)
        body = self.read(n)
        check(body is not None, "connection closed inside a frame")
        return body

    def read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def recv(self, cls, version, corr):
        resp = cls[version].decode(self.frame(), header=True)
        got = resp._header.correlation_id
        check(got == corr, "%s v%d: correlation id %d, expected %d" % (cls.__name__, version, got, corr))
        return resp

    def call(self, req_cls, resp_cls, version, **fields):
        return self.recv(resp_cls, version, self.send(req_cls, version, **fields))

    def expect_closed(self, what, timeout=5.0):
        self.s.settimeout(timeout)
        try:
            data = self.s.recv(65536)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            raise Failed("%s: the connection stayed open" % what)
        check(data == b"", "%s: got %r instead of a close" % (what, data[:64]))

    def close(self):
        self.s.close()

    # -- SASL helpers

    def handshake(self, mechanism, version=1):
        r = self.call(SaslHandshakeRequest, SaslHandshakeResponse, version, mechanism=mechanism)
        check(r.error_code == 0, "handshake %s: error %d" % (mechanism, r.error_code))
        return r

    def authenticate(self, token, version=2):
        return self.call(SaslAuthenticateRequest, SaslAuthenticateResponse, version, auth_bytes=token)

    def metadata(self):
        r = self.call(MetadataRequest, MetadataResponse, 12, topics=None)
        check(len(r.brokers) == 1, "metadata: %d brokers" % len(r.brokers))
        return r


def plain_token(user, password):
    return b"\x00" + user.encode() + b"\x00" + password.encode()


def unsecured_jwt(sub):
    def enc(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return "%s.%s." % (enc({"alg": "none"}), enc({"sub": sub, "iat": now, "exp": now + 3600}))


def oauth_message(token):
    return ("n,,\x01auth=Bearer %s\x01\x01" % token).encode()


def main():
    addr, user, password, user2, password2, opaque, lifetime_ms = sys.argv[1:8]
    lifetime_ms = int(lifetime_ms)
    ok = lambda name: print("ok %s" % name, flush=True)  # noqa: E731

    # api_versions
    for v in (0, 3):
        c = Conn(addr)
        fields = {"client_software_name": "gateway-check", "client_software_version": "1"} if v >= 3 else {}
        r = c.call(ApiVersionsRequest, ApiVersionsResponse, v, **fields)
        check(r.error_code == 0, "ApiVersions v%d: error %d" % (v, r.error_code))
        keys = {k.api_key: (k.min_version, k.max_version) for k in r.api_keys}
        check(keys.get(17) == (0, 1), "ApiVersions v%d: SaslHandshake %r" % (v, keys.get(17)))
        check(keys.get(36) == (0, 2), "ApiVersions v%d: SaslAuthenticate %r" % (v, keys.get(36)))
        check(1 in keys and 3 in keys, "ApiVersions v%d: broker APIs missing: %r" % (v, keys))
        c.close()
    ok("api_versions")

    # plain_vN
    for v in (0, 1, 2):
        c = Conn(addr)
        c.call(ApiVersionsRequest, ApiVersionsResponse, 0)
        h = c.handshake("PLAIN")
        check("PLAIN" in h.mechanisms, "handshake lists %r" % h.mechanisms)
        r = c.authenticate(plain_token(user, password), v)
        check(r.error_code == 0, "PLAIN v%d: error %d %r" % (v, r.error_code, r.error_message))
        if v >= 1:
            check(r.session_lifetime_ms == lifetime_ms,
                  "PLAIN v%d: session_lifetime_ms %d" % (v, r.session_lifetime_ms))
        c.metadata()
        c.close()
        ok("plain_v%d" % v)

    # raw_v0
    c = Conn(addr)
    c.handshake("PLAIN", version=0)
    tok = plain_token(user, password)
    c.s.sendall(struct.pack(">i", len(tok)) + tok)
    check(c.frame() == b"", "raw PLAIN: non-empty answer")
    c.metadata()
    c.close()
    ok("raw_v0")

    # scram
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        c = Conn(addr)
        c.handshake(mech)
        sc = ScramClient([mech], user, password)
        r = c.authenticate(sc.get_client_first().encode())
        check(r.error_code == 0, "%s first: error %d" % (mech, r.error_code))
        sc.set_server_first(r.auth_bytes.decode())
        r = c.authenticate(sc.get_client_final().encode())
        check(r.error_code == 0, "%s final: error %d %r" % (mech, r.error_code, r.error_message))
        sc.set_server_final(r.auth_bytes.decode())  # verifies the server signature
        check(r.session_lifetime_ms == lifetime_ms, "%s: session_lifetime_ms" % mech)
        c.metadata()
        c.close()
    ok("scram")

    # oauth_opaque
    c = Conn(addr)
    c.handshake("OAUTHBEARER")
    r = c.authenticate(oauth_message(opaque))
    check(r.error_code == 0 and r.auth_bytes == b"", "opaque token: %r" % r)
    c.metadata()
    c.close()
    ok("oauth_opaque")

    # oauth_bad_jwt
    c = Conn(addr)
    c.handshake("OAUTHBEARER")
    r = c.authenticate(oauth_message(unsecured_jwt(user + "-not")))
    check(r.error_code == 0, "bad JWT: the first answer is a challenge, got error %d" % r.error_code)
    check(json.loads(r.auth_bytes).get("status") == "invalid_token", "bad JWT: challenge %r" % r.auth_bytes)
    r = c.authenticate(b"\x01")
    check(r.error_code == SASL_AUTHENTICATION_FAILED, "bad JWT: error %d" % r.error_code)
    c.expect_closed("bad JWT")
    ok("oauth_bad_jwt")

    # bad_password
    c = Conn(addr)
    c.handshake("PLAIN")
    r = c.authenticate(plain_token(user, password + "-wrong"))
    check(r.error_code == SASL_AUTHENTICATION_FAILED, "bad password: error %d" % r.error_code)
    check(r.error_message, "bad password: no error message")
    c.expect_closed("bad password")
    ok("bad_password")

    # bad_mechanism
    c = Conn(addr)
    r = c.call(SaslHandshakeRequest, SaslHandshakeResponse, 1, mechanism="GSSAPI")
    check(r.error_code == UNSUPPORTED_SASL_MECHANISM, "GSSAPI: error %d" % r.error_code)
    check("PLAIN" in r.mechanisms, "GSSAPI: enabled list %r" % r.mechanisms)
    c.expect_closed("unsupported mechanism")
    ok("bad_mechanism")

    # before_auth
    c = Conn(addr)
    c.send(MetadataRequest, 12, topics=None)
    c.expect_closed("Metadata before authentication")
    ok("before_auth")

    # auth_first
    c = Conn(addr)
    c.send(SaslAuthenticateRequest, 2, auth_bytes=plain_token(user, password))
    c.expect_closed("SaslAuthenticate before SaslHandshake")
    ok("auth_first")

    # reauth_order: the Metadata answer comes before the handshake's.
    c = Conn(addr)
    c.handshake("PLAIN")
    c.authenticate(plain_token(user, password))
    m = c.send(MetadataRequest, 12, topics=None)
    h = c.send(SaslHandshakeRequest, 1, mechanism="PLAIN")
    c.recv(MetadataResponse, 12, m)
    r = c.recv(SaslHandshakeResponse, 1, h)
    check(r.error_code == 0, "re-auth handshake: error %d" % r.error_code)
    r = c.authenticate(plain_token(user, password))
    check(r.error_code == 0 and r.session_lifetime_ms == lifetime_ms, "re-auth: %r" % r)
    c.metadata()
    c.close()
    ok("reauth_order")

    # reauth_principal
    c = Conn(addr)
    c.handshake("OAUTHBEARER")
    check(c.authenticate(oauth_message(opaque)).error_code == 0, "opaque token")
    c.handshake("OAUTHBEARER")
    r = c.authenticate(oauth_message(unsecured_jwt(user)))
    check(r.error_code == 0, "re-auth as the same principal: %r" % r)
    c.close()
    c = Conn(addr)
    c.handshake("PLAIN")
    c.authenticate(plain_token(user, password))
    c.handshake("PLAIN")
    r = c.authenticate(plain_token(user2, password2))
    check(r.error_code == SASL_AUTHENTICATION_FAILED, "re-auth as someone else: %r" % r)
    c.expect_closed("re-auth as someone else")
    ok("reauth_principal")

    # expiry
    c = Conn(addr)
    c.handshake("PLAIN")
    c.authenticate(plain_token(user, password))
    c.metadata()
    time.sleep(lifetime_ms / 1000.0 + 0.3)
    c.send(MetadataRequest, 12, topics=None)
    c.expect_closed("Metadata after the session expired")
    ok("expiry")
    print("ALL OK", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print("FAILED %s" % e, flush=True)
        sys.exit(1)
