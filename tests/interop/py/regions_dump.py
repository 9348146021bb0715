"""Print the endpoints the official Python SDK (and CLI, for the login URL) compute for regions.

Usage: regions_dump.py '<json>' where <json> is
    {"inputs": ["fra", ...], "overrides": ["http://127.0.0.1:8765", ...]}
Prints one JSON array with, per input:
    input, objectstorage/identity/iaas (scheme + host, as BaseClient.get_endpoint()),
    objectstorage_base/identity_base/iaas_base (the client's endpoint with base path,
    dual-stack option resolved), auth (oci.regions.endpoint_for("auth", ...)),
    login (the CLI's browser URL, known regions only, else null),
    overrides: {url: {service: endpoint after `client.base_client.endpoint = url`}}.

Each input is computed in a forked child, so the SDK's once-per-process reading of
~/.oci/regions-config.json and OCI_REGION_METADATA starts afresh for every input.
"""
import json
import os
import sys

import oci
from oci_cli import cli_setup_bootstrap


class _NoSigner(oci.auth.signers.SecurityTokenSigner):
    """Passes the SDK's config validation; never signs anything."""

    def __init__(self):
        pass


CLIENTS = {
    "objectstorage": oci.object_storage.ObjectStorageClient,
    "identity": oci.identity.IdentityClient,
    "iaas": oci.core.ComputeClient,
}


def dump(region, overrides):
    out = {"input": region}
    for name, cls in CLIENTS.items():
        client = cls({"region": region}, signer=_NoSigner()).base_client
        out[name] = client.get_endpoint()
        out[name + "_base"] = client.update_endpoint_template_for_options()
    out["auth"] = oci.regions.endpoint_for("auth", region)
    ident = oci.regions.get_region_from_short_name(region)
    if ident in oci.regions.REGION_REALMS:
        out["login"] = cli_setup_bootstrap.get_console_auth_url(ident)
    else:
        out["login"] = None
    out["overrides"] = {}
    for url in overrides:
        per = {}
        for name, cls in CLIENTS.items():
            client = cls({"region": region}, signer=_NoSigner()).base_client
            client.endpoint = url
            per[name] = client.endpoint
        out["overrides"][url] = per
    return out


def main():
    req = json.loads(sys.argv[1])
    results = []
    for region in req["inputs"]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                data = json.dumps(dump(region, req.get("overrides", []))).encode()
                code = 0
            except Exception as e:  # reported to the test, which fails
                data = json.dumps({"input": region, "error": repr(e)}).encode()
                code = 1
            with os.fdopen(w, "wb") as f:
                f.write(data)
            os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            data = f.read()
        os.waitpid(pid, 0)
        results.append(json.loads(data))
    json.dump(results, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
