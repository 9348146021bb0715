"""Instance principals with the official Python SDK against oci-emulator.

Usage: principals_ip.py FEDERATION_ENDPOINT SERVICE_ENDPOINT [--refresh]
Environment: OCI_METADATA_BASE_URL (the emulator's /opc/v2).

Builds oci.auth.signers.InstancePrincipalsSecurityTokenSigner(federation_endpoint=...), calls
GetNamespace through ObjectStorageClient, and prints JSON:
{"region", "tenancy", "namespace", "claims": <token claims>, "refreshed_namespace"?}.
With --refresh it forces refresh_security_token() (new session key, new token) and calls again.
On an SDK error it prints {"error": class name, "status"?, "message"} and exits 1.
"""

import json
import sys

import jwt
import oci


def main():
    fed, endpoint = sys.argv[1], sys.argv[2]
    try:
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
            federation_endpoint=fed,
            federation_client_retry_strategy=oci.retry.NoneRetryStrategy(),
        )
        client = oci.object_storage.ObjectStorageClient({}, signer=signer, service_endpoint=endpoint)
        out = {
            "region": signer.region,
            "tenancy": signer.tenancy_id,
            "namespace": client.get_namespace().data,
        }
        token = signer.get_security_token()
        out["claims"] = jwt.decode(token, options={"verify_signature": False})
        if "--refresh" in sys.argv:
            new = signer.refresh_security_token()
            out["token_changed"] = new != token
            out["refreshed_namespace"] = client.get_namespace().data
    except oci.exceptions.ServiceError as e:
        print(json.dumps({"error": type(e).__name__, "status": e.status, "message": e.message}))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - report any SDK failure to the Rust test
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(1)
    print(json.dumps(out))


main()
