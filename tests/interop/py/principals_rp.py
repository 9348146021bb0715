"""Resource principals with the official Python SDK against oci-emulator.

Usage: principals_rp.py SERVICE_ENDPOINT
Environment: OCI_RESOURCE_PRINCIPAL_VERSION and the variables of that version (2.2: RPST,
PRIVATE_PEM, REGION; 1.1: RPT_ENDPOINT, RPST_ENDPOINT plus OCI_METADATA_BASE_URL; 2.1.x:
RPT_ENDPOINT, RPST_ENDPOINT, RESOURCE_ID, TENANCY_ID, PRIVATE_PEM; 3.0: the _FOR_LEAF_RESOURCE and
_FOR_PARENT_RESOURCE variables).

Calls oci.auth.signers.get_resource_principals_signer() and GetNamespace, and prints JSON
{"region", "namespace", "claims": <RPST claims>}; on failure {"error", "status"?, "message"},
exit 1.

Test shims for RP 1.1 (and a 1.1 leaf under 3.0), needed because the SDK cannot be pointed at a
local auth service there (spec oci-principals-wif.md §2.2, §2.10):
- its internal InstancePrincipalsSecurityTokenSigner is built without federation_endpoint and
  would federate at https://auth.<region>.oraclecloud.com: when EMU_FEDERATION_ENDPOINT is set,
  the signer class the RP 1.1 module uses gets that endpoint as its default;
- rpt_path_providers.get_instance_id_from_imds reads the class default metadata base
  (http://169.254.169.254/opc/v2) and ignores OCI_METADATA_BASE_URL: the class attribute is set to
  OCI_METADATA_BASE_URL.
"""

import json
import os
import sys

import jwt
import oci
from oci.auth.signers import instance_principals_security_token_signer as ip_module
from oci.auth.signers import resource_principals_federation_signer as rp11_module


def install_shims():
    fed = os.environ.get("EMU_FEDERATION_ENDPOINT")
    base = os.environ.get("OCI_METADATA_BASE_URL")
    if base:
        ip_module.InstancePrincipalsSecurityTokenSigner.METADATA_URL_BASE = base
    if fed:
        original = ip_module.InstancePrincipalsSecurityTokenSigner

        class LocalFederation(original):
            def __init__(self, **kwargs):
                kwargs.setdefault("federation_endpoint", fed)
                kwargs.setdefault("federation_client_retry_strategy", oci.retry.NoneRetryStrategy())
                super().__init__(**kwargs)

        rp11_module.InstancePrincipalsSecurityTokenSigner = LocalFederation


def main():
    endpoint = sys.argv[1]
    install_shims()
    try:
        signer = oci.auth.signers.get_resource_principals_signer()
        client = oci.object_storage.ObjectStorageClient({}, signer=signer, service_endpoint=endpoint)
        out = {
            "region": getattr(signer, "region", None),
            "namespace": client.get_namespace().data,
        }
        out["claims"] = jwt.decode(signer.get_security_token(), options={"verify_signature": False})
    except oci.exceptions.ServiceError as e:
        print(json.dumps({"error": type(e).__name__, "status": e.status, "message": e.message}))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - report any SDK failure to the Rust test
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(1)
    print(json.dumps(out))


main()
