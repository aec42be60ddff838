"""@auth over HTTP: HS256 Bearer tokens (required and optional), claims bound as
:auth.<claim>, 401 answers, and `@cache private` keeping each subject's entry apart.
(test_jwt.py covers the other algorithms, JWKS, the policy and claims in SQL.)"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
FIX = os.path.join(ROOT, "tests", "fixtures", "auth_tests")
SECRET = b"test-secret-for-keel-auth-0123456789"


def sh(*args):
    return kit.pg(*args).strip()


def b64(d):
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def token(claims, secret=SECRET, alg="HS256"):
    claims = dict(claims)
    claims.setdefault("exp", int(time.time()) + 600)  # keel requires exp by default
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(secret, (head + "." + body).encode(), hashlib.sha256).digest())
    return head + "." + body + "." + sig


def bearer(t):
    return {"Authorization": "Bearer " + t}


sh("start")
sh("load")  # creates the bounties database the fixtures connect to (idempotent)
URL = sh("url")
keel = kit.Keel(env={"KEEL_ROUTES": os.path.join(FIX, "routes"), "DATABASE_URL": URL,
                     "KEEL_JWT_SECRET": SECRET.decode(), "KEEL_SHARDS": "1"})


def get(path, headers=None):
    st, h, body = keel.request(path=path, headers=headers)
    return st, h, (json.loads(body) if body else None)


def test_required_auth_refuses_missing_and_bad_tokens():
    now = int(time.time())
    st, h, b = get("/a/me")
    assert st == 401 and h["www-authenticate"] == "Bearer" and b["message"] == "authentication required", (st, h, b)
    cases = [
        (bearer(token({"sub": "u1"}, secret=b"wrong")), "bad signature"),
        (bearer(token({"sub": "u1", "exp": now - 100})), "token expired"),  # beyond the 30 s leeway
        (bearer(token({"sub": "u1", "nbf": now + 3600})), "token not yet valid"),
        (bearer(token({"sub": "u1"}, alg="none")), "unsupported algorithm"),
        (bearer(token({"name": "no subject"})), "malformed token"),
        (bearer("not.a.token"), "malformed token"),
        ({"Authorization": "Basic dTpw"}, "Authorization must be a Bearer token"),
    ]
    for headers, why in cases:
        st, h, b = get("/a/me", headers)
        assert st == 401 and b["message"] == why, (headers, st, b)
        assert h["www-authenticate"].startswith('Bearer error="invalid_token"'), h


def test_valid_token_binds_claims():
    st, _, b = get("/a/me", bearer(token({"sub": "alice", "exp": int(time.time()) + 600})))
    assert st == 200 and b["sub"] == "alice", b
    st, _, b = get("/a/optional", bearer(token({"sub": 42, "role": "admin"})))
    assert st == 200 and b == {"sub": "42", "role": "admin"}, b  # numeric sub as text


def test_optional_auth_anonymous_and_invalid():
    st, _, b = get("/a/optional")
    assert st == 200 and b == {"sub": "anonymous", "role": None}, b
    st, _, b = get("/a/optional", bearer(token({"sub": "x"}, secret=b"forged")))
    assert st == 401, "an invalid token must not be treated as anonymous"


def test_private_cache_keeps_subjects_apart():
    ta, tb = token({"sub": "alice-p"}), token({"sub": "bob-p"})
    st, h, a1 = get("/a/me", bearer(ta))
    assert st == 200 and a1["sub"] == "alice-p"
    assert h["cache-control"].startswith("private, max-age="), h
    st, h, b1 = get("/a/me", bearer(tb))
    assert st == 200 and b1["sub"] == "bob-p", "bob was served alice's cached entry: %r" % b1
    st, h, a2 = get("/a/me", bearer(ta))
    assert a2 == a1 and int(h["age"]) >= 0, "alice's entry was not cached"
    st, h, b2 = get("/a/me", bearer(tb))
    assert b2 == b1
    st, _, _ = get("/a/me")  # the cache is never reached without a valid token
    assert st == 401


def test_shared_cache_is_public():
    st, h, s1 = get("/a/shared")
    st, h2, s2 = get("/a/shared", bearer(token({"sub": "anyone"})))
    assert s1 == s2 and h["cache-control"].startswith("public, max-age="), (h, s1, s2)


def test_short_secret_is_refused():
    _, err = kit.refuses_to_start({"KEEL_JWT_SECRET": "too-short"})
    assert "at least 32 bytes" in err, err


def test_auth_routes_need_a_secret():
    _, err = kit.refuses_to_start({"KEEL_ROUTES": os.path.join(FIX, "routes_nosecret"), "DATABASE_URL": URL,
                                   "KEEL_JWT_SECRET": ""})
    assert "me.sql:3: @auth needs KEEL_JWT_SECRET" in err, err


if __name__ == "__main__":
    keel.start()
    kit.main(globals(), servers=lambda: [keel])
