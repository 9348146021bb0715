"""Sign request cases with the official OCI Python SDK and print every resulting header.

Reads a JSON list of cases on stdin. Each case is an object with:
  method        HTTP method (any case)
  url           full URL given to the SDK's vendored requests
  headers       list of [name, value] pairs (include a fixed "date": the SDK only
                setdefaults it, so a date set in advance is what gets signed)
  body_b64      request body, base64 ("" for none)
  exclude_body  true: sign through `signer.without_content_headers` (the SDK's
                enforce_content_headers=False, as PutObject does)
  key_file      private key PEM path
  pass_phrase   optional passphrase for key_file
  and either
  tenancy, user, fingerprint   -> oci.signer.Signer (API key, keyId tenancy/user/fingerprint)
  or token                     -> oci.auth.signers.SecurityTokenSigner (keyId ST$<token>)

Prints a JSON list, one object per case, in input order:
  path_url      the request target requests sends on the wire (and the SDK signs)
  netloc        urlparse(url).netloc, the host the SDK signs
  headers       every header of the prepared request after signing, [name, value] pairs
  fingerprint   MD5 of the DER SubjectPublicKeyInfo of the key the SDK loaded, aa:bb:..
  error         present instead of the above when the SDK refused the case (message)
"""

import base64
import hashlib
import json
import sys
from urllib.parse import urlparse

from cryptography.hazmat.primitives import serialization

import oci.signer
from oci._vendor import requests
from oci.auth.signers import SecurityTokenSigner


def fingerprint(private_key):
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ":".join("%02x" % b for b in hashlib.md5(der).digest())


_signers = {}


def signer_for(case):
    pass_phrase = case.get("pass_phrase")
    if "token" in case:
        cache_key = ("st", case["token"], case["key_file"], pass_phrase)
        if cache_key not in _signers:
            key = oci.signer.load_private_key_from_file(case["key_file"], pass_phrase)
            _signers[cache_key] = SecurityTokenSigner(case["token"], key)
    else:
        cache_key = (
            "api",
            case["tenancy"],
            case["user"],
            case["fingerprint"],
            case["key_file"],
            pass_phrase,
        )
        if cache_key not in _signers:
            _signers[cache_key] = oci.signer.Signer(
                case["tenancy"],
                case["user"],
                case["fingerprint"],
                case["key_file"],
                pass_phrase=pass_phrase,
            )
    return _signers[cache_key]


def sign_case(case):
    signer = signer_for(case)
    body = base64.b64decode(case.get("body_b64") or "")
    headers = {}
    for name, value in case.get("headers", []):
        headers[name] = value
    prepared = requests.Request(
        case["method"], case["url"], headers=headers, data=body if body else None
    ).prepare()
    if case.get("exclude_body"):
        signer.without_content_headers(prepared)
    else:
        signer(prepared)
    return {
        "path_url": prepared.path_url,
        "netloc": urlparse(prepared.url).netloc,
        "headers": [[k, v] for k, v in prepared.headers.items()],
        "fingerprint": fingerprint(signer.private_key),
    }


def main():
    cases = json.load(sys.stdin)
    out = []
    for case in cases:
        try:
            out.append(sign_case(case))
        except Exception as e:  # reported per case, so one refusal does not hide the rest
            out.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
