"""JWT beyond HS256 (issue 12): RS256/384/512, PS256, ES256/384 and EdDSA tokens against a
JWK Set served over HTTP by this test (rotated while keel runs), a JWKS file reloaded on
SIGHUP, the RFC 8725 refusals (each a 401 with WWW-Authenticate: Bearer
error="invalid_token"), and the claims in SQL: bound by JSON type, visible as
current_setting('request.jwt.claims') for the request's transaction only, a role switched
per request (KEEL_JWT_ROLES) so that the bounties schema's row-level security hides another
user's wallet rows even from a route whose WHERE forgot the owner, and {auth.sub} tags
evicted by a write; a JWKS server that misbehaves (a gzip bomb, a document over 1 MiB, no
answer) costs neither memory nor the last good keys nor a prompt shutdown. Tokens are signed
here with the `cryptography` package."""
import base64
import gzip
import hashlib
import hmac
import http.server
import json
import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
except ImportError:  # scripts/setup.sh installs python3-cryptography
    print("skip test_jwt: the python3 cryptography package is not installed")
    sys.exit(77)

ROOT = kit.ROOT
FIX = os.path.join(ROOT, "tests", "fixtures", "jwt_tests")
SECRET = b"jwt-test-secret-0123456789abcdef-0123456789"
ISS = "https://issuer.test"
AUD = "keel-tests"


def b64(d):
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def uint(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


class Key:
    """A signing key of one algorithm and its public JWK."""

    def __init__(self, alg, kid):
        self.alg, self.kid = alg, kid
        if alg.startswith(("RS", "PS")):
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pub = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": uint(pub.n), "e": uint(pub.e)}
        elif alg in ("ES256", "ES384"):
            curve, self.size = (ec.SECP256R1(), 32) if alg == "ES256" else (ec.SECP384R1(), 48)
            self.priv = ec.generate_private_key(curve)
            pub = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256" if alg == "ES256" else "P-384",
                        "x": uint(pub.x, self.size), "y": uint(pub.y, self.size)}
        else:
            self.priv = ed25519.Ed25519PrivateKey.generate()
            raw = self.priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        self.jwk.update({"kid": kid, "alg": alg, "use": "sig"})

    def sign(self, data):
        h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(self.alg[2:])
        if self.alg.startswith("RS"):
            return self.priv.sign(data, padding.PKCS1v15(), h)
        if self.alg.startswith("PS"):
            return self.priv.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        if self.alg.startswith("ES"):
            r, s = decode_dss_signature(self.priv.sign(data, ec.ECDSA(h)))
            return r.to_bytes(self.size, "big") + s.to_bytes(self.size, "big")
        return self.priv.sign(data)

    def public_pem(self):
        return self.priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def claims_std(claims):
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 600}
    c.update(claims)
    return {k: v for k, v in c.items() if v is not None}  # None: leave the claim out


def jws(header, payload_bytes, signer):
    head = b64(json.dumps(header).encode())
    body = b64(payload_bytes)
    return head + "." + body + "." + b64(signer((head + "." + body).encode()))


def token(key, claims, header=None):
    """A token signed by key (a Key, or bytes: an HS256 secret)."""
    payload = json.dumps(claims_std(claims)).encode()
    if isinstance(key, bytes):
        h = {"alg": "HS256", "typ": "JWT"}
        h.update(header or {})
        return jws(h, payload, lambda d: hmac.new(key, d, hashlib.sha256).digest())
    h = {"alg": key.alg, "typ": "JWT", "kid": key.kid}
    h.update(header or {})
    return jws(h, payload, key.sign)


def bearer(t):
    return {"Authorization": "Bearer " + t}


# ---- the JWKS server: one document, swapped by the tests, counted per fetch ------------------
jwks_doc = {"keys": []}
jwks_max_age = [1]
# How the server misbehaves, if it does: (Content-Encoding, body) to send instead of the
# document, or "hang" (accept, read the request, never answer).
jwks_misbehave = [None]
jwks_paths = {}  # fetches per request path: a test's own keel can ask for a path of its own


def jwks_fetches(path="/jwks.json"):
    """How many times the JWK Set was fetched at path (the module's keel: /jwks.json)."""
    return jwks_paths.get(path, 0)


class JwksHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(jwks_doc).encode()
        jwks_paths[self.path] = jwks_paths.get(self.path, 0) + 1
        bad = jwks_misbehave[0]
        if bad == "hang":
            time.sleep(8)  # past keel's 5 s fetch timeout
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if bad:
            if bad[0]:
                self.send_header("Content-Encoding", bad[0])
            body = bad[1]
        # keel bounds it to [KEEL_JWT_JWKS_MIN_REFRESH (1 s here), 24 h]
        self.send_header("Cache-Control", "max-age=%d" % jwks_max_age[0])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # keel stops reading what is over its cap
            pass

    def log_message(self, *a):
        pass


jwks_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
threading.Thread(target=jwks_server.serve_forever, daemon=True).start()
JWKS_URL = "http://127.0.0.1:%d/jwks.json" % jwks_server.server_address[1]

KEYS = {alg: Key(alg, "k-" + alg.lower()) for alg in
        ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")}
jwks_doc = {"keys": [k.jwk for k in KEYS.values()]}

kit.pg("start")
kit.pg("load")  # the bounties database, with its row-level security (schema.sql)
URL = kit.pg("url").strip()
kit.psql(URL, "CREATE TABLE IF NOT EXISTS public.jwt_notes (owner text NOT NULL); TRUNCATE public.jwt_notes; "
              "GRANT SELECT, INSERT ON public.jwt_notes TO bounties_api; "
              "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jwt_test_other') THEN "
              "CREATE ROLE jwt_test_other NOLOGIN; END IF; END $$; GRANT jwt_test_other TO CURRENT_USER")
ENV = {"KEEL_ROUTES": os.path.join(FIX, "routes"), "DATABASE_URL": URL, "KEEL_SHARDS": "1",
       "KEEL_JWT_SECRET": SECRET.decode(), "KEEL_JWT_JWKS": JWKS_URL,
       "KEEL_JWT_JWKS_MIN_REFRESH": "1s", "KEEL_JWT_JWKS_KID_REFETCH": "1s",
       "KEEL_JWT_ISSUER": ISS, "KEEL_JWT_AUDIENCE": AUD,
       "KEEL_JWT_ROLES": "bounties_api,jwt_test_other", "KEEL_JWT_ROLE_CLAIM": "db_role"}
keel = kit.Keel(env=ENV).start()


def get(path, tok=None, k=None):
    st, h, body = (k or keel).request(path=path, headers=bearer(tok) if tok else None)
    return st, h, (json.loads(body) if body else None)


def refused(tok, why, k=None):
    st, h, b = get("/j/claims", tok, k)
    assert st == 401, (why, st, b)
    assert h["www-authenticate"].startswith('Bearer error="invalid_token"'), (why, h)
    assert b["message"] == why, (why, b)


def test_every_algorithm_from_the_jwks():
    for alg, key in KEYS.items():
        st, h, b = get("/j/claims", token(key, {"sub": "user-" + alg}))
        assert st == 200 and b["sub"] == "user-" + alg, (alg, st, b)
    st, _, b = get("/j/claims", token(SECRET, {"sub": "hs"}))  # the secret, no kid
    assert st == 200 and b["sub"] == "hs", (st, b)


def test_rfc8725_refusals():
    rs = KEYS["RS256"]
    now = int(time.time())
    payload = json.dumps(claims_std({"sub": "u1"})).encode()
    # alg none, with and without a signature
    refused(jws({"alg": "none", "typ": "JWT"}, payload, lambda d: b""), "unsupported algorithm")
    refused(jws({"alg": "none", "kid": rs.kid}, payload, rs.sign), "unsupported algorithm")
    # RS256 -> HS256 confusion: HMAC with the public key (PEM, and the JWK's modulus) as the
    # secret, naming the RSA key's kid: the key is pinned to RS256
    for secret in (rs.public_pem(), base64.urlsafe_b64decode(rs.jwk["n"] + "==")):
        t = jws({"alg": "HS256", "kid": rs.kid}, payload, lambda d: hmac.new(secret, d, hashlib.sha256).digest())
        refused(t, "algorithm does not match the key")
        # without the kid it meets the configured secret, which it does not match
        t = jws({"alg": "HS256"}, payload, lambda d: hmac.new(secret, d, hashlib.sha256).digest())
        refused(t, "bad signature")
    # a key of another algorithm named by kid: ES256 header on the RS256 key
    refused(token(KEYS["ES256"], {"sub": "u1"}, {"kid": rs.kid}), "algorithm does not match the key")
    refused(token(Key("RS256", "nobody-knows-me"), {"sub": "u1"}), "unknown key")
    refused(token(rs, {"sub": "u1", "exp": now - 100}), "token expired")  # beyond the 30 s leeway
    refused(token(rs, {"sub": "u1", "nbf": now + 3600}), "token not yet valid")
    refused(token(rs, {"sub": "u1", "iat": now + 3600}), "token issued in the future")
    refused(token(rs, {"sub": "u1", "exp": None}), "token has no expiry")
    refused(token(rs, {"sub": "u1", "iss": "https://evil.test"}), "wrong issuer")
    refused(token(rs, {"sub": "u1", "iss": None}), "wrong issuer")
    refused(token(rs, {"sub": "u1", "aud": "someone-else"}), "wrong audience")
    refused(token(rs, {"sub": "u1", "aud": ["a", "b"]}), "wrong audience")
    st, _, b = get("/j/claims", token(rs, {"sub": "u1", "aud": ["a", AUD]}))
    assert st == 200, (st, b)  # an array holding keel's audience
    st, _, b = get("/j/claims", token(rs, {"sub": "u1", "exp": now - 10}))
    assert st == 200, (st, b)  # within the leeway
    # tampered payload: the same signature over another subject
    good = token(rs, {"sub": "u1"})
    h, p, s = good.split(".")
    forged = json.dumps(claims_std({"sub": "admin"})).encode()
    refused(h + "." + b64(forged) + "." + s, "bad signature")
    # a tampered signature
    refused(h + "." + p + "." + s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB"), "bad signature")
    # duplicate claims: which "sub" would SQL see?
    dup = (b'{"iss":"%s","aud":"%s","exp":%d,"sub":"u1","sub":"admin"}' % (ISS.encode(), AUD.encode(), now + 600))
    refused(jws({"alg": "RS256", "kid": rs.kid}, dup, rs.sign), "malformed token")
    # duplicate header members
    t = b64(b'{"alg":"RS256","kid":"%s","alg":"HS256"}' % rs.kid.encode()) + "." + b64(payload)
    refused(t + "." + b64(rs.sign(t.encode())), "malformed token")


def test_claims_bound_by_json_type():
    claims = {"sub": "typed", "n": 41.5, "flag": True, "nothing": None, "obj": {"k": "v"}, "arr": [1, 2, 3],
              "name": "O'Brien \"quoted\""}
    payload = json.dumps(dict(claims_std({"sub": "typed"}), **claims)).encode()  # keeps "nothing": null
    t = jws({"alg": "RS256", "kid": KEYS["RS256"].kid}, payload, KEYS["RS256"].sign)
    st, _, b = get("/j/claims", t)
    assert st == 200, (st, b)
    assert b["n_plus_1"] == 42.5 and b["not_flag"] is False, b
    assert b["nothing_is_null"] is True and b["absent_is_null"] is True, b
    assert b["obj_k"] == "v" and b["arr_len"] == 3 and b["name"] == claims["name"], b
    # the payload as signed, for this transaction
    assert b["jwt_claims"]["sub"] == "typed" and b["jwt_claims"]["obj"] == {"k": "v"}, b
    assert b["jwt_claims"]["nothing"] is None and b["jwt_claims"]["iss"] == ISS, b


def test_claims_and_role_last_only_their_transaction():
    st, _, b = get("/j/claims", token(KEYS["ES256"], {"sub": "someone"}))
    assert st == 200 and b["role"] == "bounties_api" and b["jwt_claims"]["sub"] == "someone", (st, b)
    # one shard, one connection: the next statement there, from a route without @auth
    st, _, b = get("/j/setting")
    assert st == 200 and b["claims"] in (None, "") and b["role"] != "bounties_api", (st, b)


def test_role_claim_must_be_allowed():
    st, _, b = get("/j/claims", token(KEYS["EdDSA"], {"sub": "r", "db_role": "bounties_api"}))
    assert st == 200 and b["role"] == "bounties_api", (st, b)
    refused(token(KEYS["EdDSA"], {"sub": "r", "db_role": "keel"}), "role not allowed")  # keel's own role
    refused(token(KEYS["EdDSA"], {"sub": "r", "db_role": 7}), "role not allowed")


def test_private_cache_keeps_roles_apart():
    st, _, b = get("/j/whoami", token(KEYS["RS256"], {"sub": "carol"}))
    assert st == 200 and b == {"sub": "carol", "role": "bounties_api"}, (st, b)
    st, _, b = get("/j/whoami", token(KEYS["RS256"], {"sub": "carol", "db_role": "jwt_test_other"}))
    assert st == 200 and b == {"sub": "carol", "role": "jwt_test_other"}, (st, b)
    st, _, b = get("/j/whoami", token(KEYS["RS256"], {"sub": "carol", "db_role": "bounties_api"}))
    assert st == 200 and b == {"sub": "carol", "role": "bounties_api"}, (st, b)


def test_row_level_security_hides_other_owners():
    have = kit.psql(URL, "SELECT string_agg(DISTINCT user_id::text, ',' ORDER BY user_id::text) "
                         "FROM wallet_transactions WHERE user_id IN (1, 2)")
    assert have == "1,2", have  # both users have rows: the route's WHERE lets both through
    st, _, b = get("/j/leaky/wallet", token(KEYS["RS256"], {"sub": "1"}))
    assert st == 200 and b["owners"] == [1] and b["role"] == "bounties_api", (st, b)
    st, _, b = get("/j/leaky/wallet", token(KEYS["PS256"], {"sub": "2"}))
    assert st == 200 and b["owners"] == [2], (st, b)
    st, _, b = get("/j/leaky/wallet", token(KEYS["PS256"], {"sub": "not-a-number"}))
    assert st == 200 and b["owners"] == [], (st, b)


def test_bounties_routes_run_as_the_rls_role():
    """The example's own routes under KEEL_JWT_ROLES=bounties_api: its grants suffice for
    reads, a transfer (both sides' rows) and @idempotent's stored answer."""
    env = {"KEEL_ROUTES": os.path.join(ROOT, "examples", "bounties", "routes"), "DATABASE_URL": URL,
           "KEEL_SHARDS": "1", "KEEL_JWT_SECRET": SECRET.decode(), "KEEL_JWT_ROLES": "bounties_api"}
    sender = kit.psql(URL, "SELECT id FROM users WHERE balance_cents >= 100 ORDER BY id LIMIT 1")
    to = kit.psql(URL, "SELECT id FROM users WHERE id <> %s ORDER BY id LIMIT 1" % sender)
    with kit.Keel(env=env) as k:
        t = bearer(token(SECRET, {"sub": sender}))
        st, _, body = k.request(path="/api/me/wallet/transactions?limit=100", headers=t)
        rows = json.loads(body)
        assert st == 200 and rows and len(rows) <= 100, (st, body[:200])
        h = dict(t, **{"Content-Type": "application/json", "Idempotency-Key": "rls-%d" % time.time_ns()})
        payload = json.dumps({"to_user_id": int(to), "amount_cents": 1}).encode()
        st, _, body = k.request("POST", "/api/wallet/transfers", headers=h, body=payload)
        assert st == 201, (st, body)
        st, hh, body2 = k.request("POST", "/api/wallet/transfers", headers=h, body=payload)
        assert st == 201 and hh.get("idempotent-replayed") == "true" and body2 == body, (st, hh, body2)
        # the recipient's transfer_in row exists, though the sender could not read it
        n = kit.psql(URL, "SELECT count(*) FROM wallet_transactions WHERE user_id = %s AND kind = 'transfer_in' "
                          "AND created_at = (%s)::timestamptz" % (to, "'" + json.loads(body)["created_at"] + "'"))
        assert n == "1", n


def test_auth_sub_tags_evicted_by_a_write():
    alice, bob = token(KEYS["ES384"], {"sub": "alice"}), token(KEYS["ES384"], {"sub": "bob"})
    st, h, a1 = get("/j/notes", alice)
    assert st == 200 and a1["n"] == 0 and "private" in h["cache-control"], (st, h, a1)
    _, _, b1 = get("/j/notes", bob)
    assert get("/j/notes", alice)[2] == a1  # cached
    st, _, body = keel.request("POST", "/j/notes", headers=bearer(alice))
    assert st == 201, (st, body)
    _, _, a2 = get("/j/notes", alice)
    assert a2["n"] == 1 and a2["at"] != a1["at"], a2  # alice's entry was evicted
    assert get("/j/notes", bob)[2] == b1  # bob's was not


def test_jwks_rotation_without_restart():
    new = Key("RS256", "rotated-in")
    t_new = token(new, {"sub": "new"})
    t_old = token(KEYS["RS384"], {"sub": "old"})
    assert get("/j/claims", t_old)[0] == 200  # verified once, now in the token cache
    # an hour's max-age from the next fetch on: only the unknown kid can make keel fetch again
    jwks_max_age[0] = 3600
    time.sleep(1.5)
    try:
        rotate(new, t_new, t_old)
    finally:
        jwks_max_age[0] = 1
        time.sleep(1.1)  # past KEEL_JWT_JWKS_KID_REFETCH since the last refetch
        get("/j/claims", token(Key("EdDSA", "wake-up"), {"sub": "x"}))  # refetch: max-age 1 again


def rotate(new, t_new, t_old):
    global jwks_doc
    fetches = jwks_fetches()
    jwks_doc = {"keys": [k.jwk for a, k in KEYS.items() if a != "RS384"] + [new.jwk]}
    time.sleep(1.2)
    assert jwks_fetches() == fetches, "keel fetched although max-age is an hour"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the first request may come before the refetch lands
        st, _, b = get("/j/claims", t_new)
        if st == 200:
            break
        assert st == 401 and b["message"] == "unknown key", (st, b)
        time.sleep(0.1)
    assert st == 200 and b["sub"] == "new", (st, b)
    assert jwks_fetches() == fetches + 1, (jwks_fetches(), fetches)
    # RS384's key is gone from the set keel now holds: refused, although it was cached
    refused(t_old, "unknown key")


def test_unknown_kids_refetch_at_most_once_a_period():
    time.sleep(1.5)
    before, t0 = jwks_fetches(), time.monotonic()
    for i in range(30):  # one unknown kid every 0.1 s: without the bound, about 30 fetches
        assert get("/j/claims", token(Key("EdDSA", "nope-%d" % i), {"sub": "x"}))[0] == 401
        time.sleep(0.1)
    fetched, took = jwks_fetches() - before, time.monotonic() - t0
    # max-age refreshes (1 s) and unknown-kid refetches (KEEL_JWT_JWKS_KID_REFETCH=1s) each
    # run at most about once a second
    assert fetched <= 2 * took + 3, (fetched, took)
    print("  %d JWKS fetches in %.1f s of unknown kids" % (fetched, took), file=sys.stderr)


def test_failed_fetch_keeps_the_last_good_set():
    global jwks_doc
    good = jwks_doc
    jwks_doc = {"keys": "not a list"}
    try:
        time.sleep(2.5)  # at least two refreshes of the broken document
        st, _, b = get("/j/claims", token(KEYS["ES256"], {"sub": "still"}))
        assert st == 200 and b["sub"] == "still", (st, b)
    finally:
        jwks_doc = good


def test_a_misbehaving_jwks_server_changes_nothing():
    # The issuer's JWKS endpoint turns hostile or broken: a gzip bomb (64 MiB of spaces in
    # 64 KB), a plain body over keel's 1 MiB cap, an answer that never comes. Each fetch fails
    # with its reason logged, memory stays put, tokens signed by the last good keys still
    # verify, and a fetch left hanging does not hold up keel's shutdown.
    bomb = ("gzip", gzip.compress(b" " * (64 << 20), 9))
    huge = (None, b" " * (2 << 20))
    with kit.Keel(env=dict(ENV, KEEL_JWT_JWKS=JWKS_URL + "?misbehaving")) as k2:
        tok = token(KEYS["ES256"], {"sub": "kept"})
        assert get("/j/claims", tok, k2)[0] == 200
        rss0 = kit.rss_kib(k2.proc.pid)
        try:
            for bad, why in ((bomb, "the JWK Set is larger than 1048576 bytes"),
                             (huge, "the JWK Set is larger than 1048576 bytes"),
                             ("hang", "Timeout was reached")):
                mark = len(k2.stderr())
                jwks_misbehave[0] = bad
                rec = k2.wait_log("JWKS fetch failed", mark, 15)
                assert rec["msg"] == "JWKS fetch failed; keeping the last good keys" and rec["error"] == why, rec
                t0 = time.monotonic()
                st, _, b = get("/j/claims", tok, k2)
                assert st == 200 and b["sub"] == "kept" and time.monotonic() - t0 < 1, (st, b)
                grew = kit.rss_kib(k2.proc.pid) - rss0
                assert grew < 16 << 10, "RSS grew by %d KiB on %s" % (grew, why)
            # an unknown kid asks for a refetch (KEEL_JWT_JWKS_KID_REFETCH=1s): once it hangs, stop
            n = jwks_fetches("/jwks.json?misbehaving")
            assert get("/j/claims", token(Key("EdDSA", "not-yet-known"), {"sub": "x"}), k2)[0] == 401
            deadline = time.monotonic() + 5
            while jwks_fetches("/jwks.json?misbehaving") == n and time.monotonic() < deadline:
                time.sleep(0.02)
            assert jwks_fetches("/jwks.json?misbehaving") > n, "no refetch for the unknown kid"
            time.sleep(0.2)
            t0 = time.monotonic()
            assert k2.stop() == 0
            took = time.monotonic() - t0
            assert took < 2, "stopping took %.1f s with a JWKS fetch hanging" % took
        finally:
            jwks_misbehave[0] = None


def test_no_keys_to_keep_until_a_jwks_was_fetched():
    # With no secret and no JWKS fetched yet, a failed fetch does not claim last good keys;
    # once a document was published, it does.
    env = {k: v for k, v in ENV.items() if k != "KEEL_JWT_SECRET"}
    jwks_misbehave[0] = (None, b" " * (2 << 20))
    try:
        with kit.Keel(env=env) as k2:
            rec = k2.wait_log("JWKS fetch failed", 0, 10)
            assert rec["msg"] == "JWKS fetch failed", rec
            k2.wait_log("no JWT key yet", 0, 10)
            mark = len(k2.stderr())
            assert k2.wait_log("JWKS fetch failed", mark, 10)["msg"] == "JWKS fetch failed"  # the retry
            tok = token(KEYS["EdDSA"], {"sub": "late"})
            assert get("/j/claims", tok, k2)[0] == 401
            mark = len(k2.stderr())
            jwks_misbehave[0] = None
            k2.wait_log("JWKS changed: new keys published", mark, 10)
            assert get("/j/claims", tok, k2)[0] == 200
            mark = len(k2.stderr())
            jwks_misbehave[0] = (None, b" " * (2 << 20))
            rec = k2.wait_log("JWKS fetch failed", mark, 10)
            assert rec["msg"] == "JWKS fetch failed; keeping the last good keys", rec
            assert get("/j/claims", tok, k2)[0] == 200
    finally:
        jwks_misbehave[0] = None


def test_jwks_file_reloaded_on_sighup():
    a, b = Key("ES256", "file-a"), Key("EdDSA", "file-b")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"keys": [a.jwk]}, f)
        path = f.name
    env = dict(ENV, KEEL_JWT_JWKS=path)
    try:
        with kit.Keel(env=env) as k2:
            assert get("/j/claims", token(a, {"sub": "a"}), k2)[0] == 200
            refused(token(b, {"sub": "b"}), "unknown key", k2)
            with open(path + ".tmp", "w") as f:
                json.dump({"keys": [b.jwk]}, f)
            os.rename(path + ".tmp", path)
            k2.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while get("/j/claims", token(b, {"sub": "b"}), k2)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert get("/j/claims", token(b, {"sub": "b"}), k2)[0] == 200
            refused(token(a, {"sub": "a"}), "unknown key", k2)
    finally:
        os.unlink(path)


def test_a_jwks_path_that_is_no_file_never_blocks():
    # KEEL_JWT_JWKS names a FIFO that nothing writes to, as a mistaken deploy might. Before,
    # opening it waited for a writer for good: at startup keel never served, and on SIGHUP
    # the key refresher hung, so SIGTERM then never ended keel (it joins that thread).
    d = tempfile.mkdtemp(prefix="keel-jwks-")
    path, fifo = os.path.join(d, "jwks.json"), os.path.join(d, "fifo.json")
    os.mkfifo(fifo)
    base = {"KEEL_ROUTES": os.path.join(FIX, "routes"), "DATABASE_URL": URL}
    try:
        t0 = time.monotonic()
        _, err = kit.refuses_to_start(dict(base, KEEL_JWT_JWKS=fifo))
        assert "cannot read %s: not a regular file" % fifo in err and time.monotonic() - t0 < 10, err
        a = Key("ES256", "fifo-a")
        with open(path, "w") as f:
            json.dump({"keys": [a.jwk]}, f)
        with kit.Keel(env=dict(ENV, KEEL_JWT_JWKS=path)) as k2:
            os.unlink(path)
            os.symlink(fifo, path)  # the file keel rereads on SIGHUP is now the FIFO
            mark = len(k2.stderr())
            k2.send_signal(signal.SIGHUP)
            rec = k2.wait_log("JWKS reload failed", mark, 5)
            assert "not a regular file" in rec["error"], rec
            assert get("/j/claims", token(a, {"sub": "a"}), k2)[0] == 200  # the last good keys
            t0 = time.monotonic()
            assert k2.stop(timeout=10) == 0 and time.monotonic() - t0 < 5
    finally:
        for p in (path, fifo):
            if os.path.lexists(p):
                os.unlink(p)
        os.rmdir(d)


def test_bad_key_settings_refuse_to_start():
    base = {"KEEL_ROUTES": os.path.join(FIX, "routes"), "DATABASE_URL": URL}
    _, err = kit.refuses_to_start(dict(base, KEEL_JWT_JWKS="http://example.com/jwks.json"))
    assert "KEEL_JWT_JWKS" in err and "https" in err, err
    _, err = kit.refuses_to_start(dict(base, KEEL_JWT_JWKS="/nonexistent/jwks.json"))
    assert "/nonexistent/jwks.json" in err, err
    _, err = kit.refuses_to_start(dict(base, KEEL_JWT_SECRET="s" * 40, KEEL_JWT_SECRET_ALG="RS256"))
    assert "KEEL_JWT_SECRET_ALG" in err, err
    _, err = kit.refuses_to_start(dict(base, KEEL_JWT_SECRET="s" * 40, KEEL_JWT_SECRET_ALG="HS512"))
    assert "at least 64 bytes" in err, err
    _, err = kit.refuses_to_start(dict(base, KEEL_JWT_SECRET="s" * 40, KEEL_JWT_ROLES="no_such_role_here"))
    assert "no_such_role_here" in err, err


kit.main(globals(), servers=lambda: [keel])
