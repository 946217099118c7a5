"""An independent peer of the hub's auth pools, for the tests.

Reads one JSON request on stdin and prints one JSON answer:
  {"op": "verify", "jwks_url": ..., "token": ..., "audience": ..., "issuer": ...}
      -> {"claims": {...}, "kid": ..., "alg": ...} or {"error": "..."}
     PyJWT's PyJWKClient fetches the JWKS from the URL and picks the key by `kid`;
     jwt.decode checks the ES256 signature, exp, iss and aud.
  {"op": "bcrypt", "password": ..., "rounds": 10}
      -> {"hash": "$2b$..."}
"""
import json
import sys

import bcrypt
import jwt


def answer(req):
    if req["op"] == "verify":
        try:
            client = jwt.PyJWKClient(req["jwks_url"], cache_keys=False)
            key = client.get_signing_key_from_jwt(req["token"])
            header = jwt.get_unverified_header(req["token"])
            claims = jwt.decode(
                req["token"],
                key.key,
                algorithms=["ES256"],
                audience=req["audience"],
                issuer=req["issuer"],
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            return {"claims": claims, "kid": header.get("kid"), "alg": header.get("alg"), "typ": header.get("typ")}
        except Exception as e:  # the test reads the refusal
            return {"error": f"{type(e).__name__}: {e}"}
    if req["op"] == "bcrypt":
        salt = bcrypt.gensalt(rounds=req.get("rounds", 10))
        return {"hash": bcrypt.hashpw(req["password"].encode(), salt).decode()}
    return {"error": f"unknown op {req['op']!r}"}


def main():
    print(json.dumps(answer(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
