"""Instance principals with the official Python SDK against oci-emulator.

Usage: principals_ip.py FEDERATION_ENDPOINT SERVICE_ENDPOINT [--refresh] [--sdk-retry]
Environment: OCI_METADATA_BASE_URL (the emulator's /opc/v2).

Builds oci.auth.signers.InstancePrincipalsSecurityTokenSigner(federation_endpoint=...), calls
GetNamespace through ObjectStorageClient, and prints JSON:
{"region", "tenancy", "namespace", "claims": <token claims>, "refreshed_namespace"?}.
With --refresh it forces refresh_security_token() (new session key, new token) and calls again.
Federation is not retried unless --sdk-retry asks for the SDK's default federation retry strategy
(3 attempts, retrying 5xx).
On an SDK error it prints {"error": class name, "status"?, "message"} and exits 1.
"""

import json
import sys

import jwt
import oci


def main():
    fed, endpoint = sys.argv[1], sys.argv[2]
    try:
        kwargs = {"federation_endpoint": fed}
        if "--sdk-retry" not in sys.argv:
            kwargs["federation_client_retry_strategy"] = oci.retry.NoneRetryStrategy()
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(**kwargs)
        client = oci.object_storage.ObjectStorageClient({}, signer=signer, service_endpoint=endpoint)
        out = {
            "region": signer.region,
            "tenancy": signer.tenancy_id,
            "namespace": client.get_namespace().data,
        }
        token = signer.federation_client.get_security_token()
        out["claims"] = jwt.decode(token, options={"verify_signature": False})
        if "--refresh" in sys.argv:
            signer.refresh_security_token()
            out["token_changed"] = signer.federation_client.get_security_token() != token
            out["refreshed_namespace"] = client.get_namespace().data
    except oci.exceptions.ServiceError as e:
        print(json.dumps({"error": type(e).__name__, "status": e.status, "message": e.message}))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - report any SDK failure to the Rust test
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(1)
    print(json.dumps(out))


main()
