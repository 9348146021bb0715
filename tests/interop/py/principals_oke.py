"""OKE workload identity with the official Python SDK against oci-emulator's proxymux.

Usage: principals_oke.py SERVICE_ENDPOINT PROXYMUX_PORT SA_TOKEN_FILE CA_FILE REGION [--helper]

Builds OkeWorkloadIdentityResourcePrincipalSigner with host 127.0.0.1 and PROXYMUX_PORT; with
--helper uses oci.auth.signers.get_oke_workload_identity_resource_principal_signer() instead,
which hard-codes port 12250 and reads KUBERNETES_SERVICE_HOST,
OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH and OCI_RESOURCE_PRINCIPAL_REGION. Prints JSON {"region", "namespace", "claims"}; on failure
{"error", "status"?, "message"}, exit 1.
"""

import json
import sys

import jwt
import oci
from oci.auth.rpt_path_providers import DefaultServiceAccountTokenProvider
from oci.auth.signers.oke_workload_identity_resource_principal_signer import (
    OkeWorkloadIdentityResourcePrincipalSigner,
)


def main():
    endpoint, port, token_file, ca_file, region = sys.argv[1:6]
    try:
        if "--helper" in sys.argv:
            signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer(
                service_account_token_path=token_file,
                retry_strategy=oci.retry.NoneRetryStrategy(),
            )
        else:
            provider = DefaultServiceAccountTokenProvider()
            provider.override_sa_token_path(token_file)
            signer = OkeWorkloadIdentityResourcePrincipalSigner(
                sa_token_provider=provider,
                sa_cert_path=ca_file,
                service_host="127.0.0.1",
                service_port=port,
                region=region,
                retry_strategy=oci.retry.NoneRetryStrategy(),
            )
        client = oci.object_storage.ObjectStorageClient({}, signer=signer, service_endpoint=endpoint)
        out = {"region": signer.region, "namespace": client.get_namespace().data}
        out["claims"] = jwt.decode(signer.get_security_token(), options={"verify_signature": False})
    except oci.exceptions.ServiceError as e:
        print(json.dumps({"error": type(e).__name__, "status": e.status, "message": e.message}))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - report any SDK failure to the Rust test
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(1)
    print(json.dumps(out))


main()
