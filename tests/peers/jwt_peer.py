"""Makes keys and signs JWTs with PyJWT, for the token verification tests.

Reads one JSON request on stdin and prints one JSON answer:
  {"op": "keygen", "kty": "EC" | "RSA", "kid": ...}
      -> {"private_pem": ..., "jwk": {...public JWK with kid, alg, use...}}
  {"op": "sign", "alg": "ES256" | "RS256" | "HS256" | ..., "key": PEM or secret,
   "claims": {...}, "headers": {...}}
      -> {"token": ...}
  {"op": "sign_none", "claims": {...}, "headers": {...}}
      -> {"token": ...}   (alg "none", empty signature)
  {"op": "sign_hmac_raw", "key": ..., "claims": {...}, "headers": {...}}
      -> {"token": ...}   (HS256 over any key bytes, e.g. a public key's PEM, which
                           PyJWT itself refuses to use as an HMAC secret)
A JSON list of requests is answered with the list of answers.
"""
import base64
import hashlib
import hmac
import json
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keygen(req):
    if req["kty"] == "EC":
        key = ec.generate_private_key(ec.SECP256R1())
        alg = "ES256"
        public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        alg = "RS256"
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public_jwk.update({"kid": req["kid"], "alg": alg, "use": "sig"})
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode()
    return {"private_pem": pem, "public_pem": public_pem, "jwk": public_jwk}


def sign(req):
    token = jwt.encode(req["claims"], req["key"], algorithm=req["alg"], headers=req.get("headers") or None)
    return {"token": token}


def sign_none(req):
    header = {"alg": "none", "typ": "JWT"}
    header.update(req.get("headers") or {})
    payload = json.dumps(req["claims"], separators=(",", ":")).encode()
    return {"token": b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(payload) + "."}


def sign_hmac_raw(req):
    header = {"alg": "HS256", "typ": "JWT"}
    header.update(req.get("headers") or {})
    signed = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(req["claims"], separators=(",", ":")).encode()
    )
    mac = hmac.new(req["key"].encode(), signed.encode(), hashlib.sha256).digest()
    return {"token": signed + "." + b64(mac)}


OPS = {"keygen": keygen, "sign": sign, "sign_none": sign_none, "sign_hmac_raw": sign_hmac_raw}


def main():
    req = json.load(sys.stdin)
    if isinstance(req, list):
        print(json.dumps([OPS[r["op"]](r) for r in req]))
    else:
        print(json.dumps(OPS[req["op"]](req)))


if __name__ == "__main__":
    main()
