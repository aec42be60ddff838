"""`keel openapi`: the document for examples/bounties/routes is valid OpenAPI 3.1
(openapi-spec-validator, installed by scripts/setup.sh into .tools/py) and says what the
route files say: path and query parameters with types, bounds, enums and defaults, request
bodies with required fields, the success status, the error statuses keel gives for each
route (with an error schema that keel's real error bodies match), bearer security on @auth
routes, the Idempotency-Key header and RateLimit headers. A folder that does not load exits
1 with file:line: reason."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

PY_TOOLS = os.path.join(kit.ROOT, ".tools", "py")
sys.path.insert(0, PY_TOOLS)
try:
    import jsonschema  # noqa: E402
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate  # noqa: E402
except ImportError as e:  # a missing tool fails the test: scripts/setup.sh installs it
    print("FAIL import_openapi_spec_validator")
    print("openapi-spec-validator is missing from %s (run scripts/setup.sh): %s" % (PY_TOOLS, e), file=sys.stderr)
    sys.exit(1)

BOUNTIES = os.path.join(kit.ROOT, "examples", "bounties", "routes")
URL = None


def openapi(*args):
    e = {k: v for k, v in os.environ.items() if k != "KEEL_ROUTES"}
    p = subprocess.run([kit.KEEL_BIN, "openapi"] + list(args), env=e, capture_output=True, text=True, timeout=60)
    if kit.ASAN:
        assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr[-3000:]
    return p.returncode, p.stdout, p.stderr


def doc():
    code, out, err = openapi("--routes", BOUNTIES)
    assert code == 0, (code, err)
    return json.loads(out)


def params(op):
    return {(p["in"], p["name"]): p for p in op.get("parameters", [])}


def test_valid_openapi_31():
    d = doc()
    assert d["openapi"] == "3.1.0"
    validate(d, cls=OpenAPIV31SpecValidator)
    # and the validator does look: a path parameter the operation does not declare is refused
    d["paths"]["/api/bounties/{id}"]["get"]["parameters"] = []
    try:
        validate(d, cls=OpenAPIV31SpecValidator)
    except Exception:
        pass
    else:
        raise AssertionError("the validator took an undeclared path parameter")


def test_paths_and_parameters():
    d = doc()
    assert sorted(d["paths"]) == ["/api/bounties", "/api/bounties/search", "/api/bounties/{id}",
                                  "/api/conversations/{id}/messages", "/api/me/wallet/transactions",
                                  "/api/users/{id}", "/api/users/{id}/stats", "/api/wallet/transfers"]
    get = d["paths"]["/api/bounties/{id}"]["get"]
    p = params(get)[("path", "id")]
    assert p["required"] is True and p["schema"]["type"] == "integer", p
    lst = params(d["paths"]["/api/bounties"]["get"])
    assert lst[("query", "status")]["schema"] == {"type": "string", "enum": ["open", "in_progress", "completed",
                                                                            "cancelled"], "default": "open"}
    assert lst[("query", "limit")]["schema"] == {"type": "integer", "format": "int64", "minimum": 1, "maximum": 100,
                                                 "default": 20}
    assert lst[("query", "limit")]["required"] is False
    q = params(d["paths"]["/api/bounties/search"]["get"])[("query", "q")]
    assert q["required"] is True and q["schema"] == {"type": "string", "minLength": 1, "maxLength": 200}, q


def test_bodies_security_and_statuses():
    d = doc()
    t = d["paths"]["/api/wallet/transfers"]["post"]
    assert t["security"] == [{"bearerAuth": []}]
    assert d["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer",
                                                                 "bearerFormat": "JWT"}
    key = params(t)[("header", "Idempotency-Key")]
    assert key["required"] is True, key
    body = t["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["to_user_id", "amount_cents"], body
    assert body["properties"]["amount_cents"] == {"type": "integer", "format": "int64", "minimum": 1,
                                                  "maximum": 100000000}
    assert body["additionalProperties"] is False
    assert sorted(t["responses"]) == ["201", "400", "401", "403", "404", "409", "413", "415", "422", "500", "503",
                                      "504"], sorted(t["responses"])
    assert "WWW-Authenticate" in t["responses"]["401"]["headers"]
    create = d["paths"]["/api/bounties"]["post"]
    assert "Location" in create["responses"]["201"]["headers"]
    props = create["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert props["title"] == {"type": "string", "minLength": 3, "maxLength": 200}, props["title"]
    assert props["description"] == {"type": ["string", "null"], "maxLength": 10000}, props["description"]
    # a public GET: no security, no 401, 404 for a missing row, 304 for a cached one
    get = d["paths"]["/api/bounties/{id}"]["get"]
    assert "security" not in get
    assert sorted(get["responses"]) == ["200", "304", "400", "404", "500", "503", "504"], sorted(get["responses"])
    assert "ETag" in get["responses"]["200"]["headers"]
    # many: an array; a list has no 404
    lst = d["paths"]["/api/bounties"]["get"]["responses"]
    assert lst["200"]["content"]["application/json"]["schema"]["type"] == "array" and "404" not in lst
    # @rate: RateLimit headers on the answer and on its 429
    s = d["paths"]["/api/bounties/search"]["get"]["responses"]
    assert {"RateLimit-Policy", "RateLimit"} <= set(s["200"]["headers"]), s["200"]
    assert {"RateLimit", "Retry-After"} <= set(s["429"]["headers"]), s["429"]
    assert "429" not in get["responses"]
    for path, item in d["paths"].items():
        for method, op in item.items():
            for status, r in op["responses"].items():
                if int(status) >= 400:
                    assert r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                        (path, method, status)


def test_error_schema_matches_keel():
    schema = doc()["components"]["schemas"]["Error"]
    env = {"KEEL_ROUTES": BOUNTIES, "DATABASE_URL": URL, "KEEL_SHARDS": "1", "KEEL_JWT_SECRET": "s" * 32}
    with kit.Keel(env=env, ready_path="/ready") as k:
        for method, path, want in (("GET", "/api/bounties/999999999999", 404), ("GET", "/api/bounties/x", 404),
                                   ("GET", "/api/bounties?limit=1000", 400),
                                   ("POST", "/api/wallet/transfers", 401)):
            st, _, body = k.request(method, path)
            assert st == want, (method, path, st, body)
            jsonschema.validate(json.loads(body), schema)
    try:
        jsonschema.validate({"statusCode": 404, "message": "x"}, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the error schema took a body without 'error'")


def test_other_types_and_optional_auth():
    d = tempfile.mkdtemp(prefix="keel-openapi-")
    try:
        with open(os.path.join(d, "thing.sql"), "w") as f:
            f.write("-- @route GET /things/{tid:uuid}\n-- @query full bool default false\n"
                    "-- @auth optional\n-- @returns one\nSELECT json_build_object('t', :tid::uuid, 'f', :full::bool)\n")
        code, out, err = openapi("--routes", d)
        assert code == 0, err
        doc_ = json.loads(out)
        validate(doc_, cls=OpenAPIV31SpecValidator)
        op = doc_["paths"]["/things/{tid}"]["get"]
        ps = params(op)
        assert ps[("path", "tid")]["schema"] == {"type": "string", "format": "uuid"}
        assert ps[("query", "full")]["schema"] == {"type": "boolean", "default": False}
        assert op["security"] == [{}, {"bearerAuth": []}]
        assert "401" in op["responses"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_bad_folder_and_usage():
    d = tempfile.mkdtemp(prefix="keel-openapi-")
    try:
        with open(os.path.join(d, "bad.sql"), "w") as f:
            f.write("-- @route GET /x\n-- @returns sometimes\nSELECT 1\n")
        code, out, err = openapi("--routes", d)
        assert code == 1 and out == "", (code, out)
        assert os.path.join(d, "bad.sql") + ":2: " in err, err
    finally:
        shutil.rmtree(d, ignore_errors=True)
    code, _, err = openapi("--bogus")
    assert code == 2 and "usage: keel openapi" in err, err
    code, _, err = openapi()
    assert code == 2 and "no route folder" in err, err


def setup():
    global URL
    kit.pg("start")
    kit.pg("load")
    URL = kit.pg("url").strip()


if __name__ == "__main__":
    setup()
    kit.main(globals())
