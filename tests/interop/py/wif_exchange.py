"""Workload identity federation with the official Python SDK's TokenExchangeSigner.

Everything comes from the environment (secrets stay off the command line):

  WIF_DOMAIN_URL          identity domain URL (the SDK appends /oauth2/v1/token)
  WIF_CLIENT_ID           OAuth client id
  WIF_CLIENT_SECRET       OAuth client secret
  WIF_SUBJECT_TOKEN_FILE  file holding the external JWT, read on every exchange
  WIF_ENDPOINT            Object Storage endpoint to call with the resulting UPST
  WIF_REGION              region for the client config

Prints one JSON object: {"namespace": ..., "sub": <UPST sub>, "key_bits": <session key size>,
"exchanges": <number of token requests>}.
"""

import json
import os
import sys

import oci
from oci.auth.signers import TokenExchangeSigner


def main():
    path = os.environ["WIF_SUBJECT_TOKEN_FILE"]
    calls = []

    def subject_token():
        calls.append(1)
        with open(path) as f:
            return f.read().strip()

    signer = TokenExchangeSigner(
        subject_token,
        os.environ["WIF_DOMAIN_URL"],
        os.environ["WIF_CLIENT_ID"],
        os.environ["WIF_CLIENT_SECRET"],
        region=os.environ["WIF_REGION"],
    )
    client = oci.object_storage.ObjectStorageClient(
        {"region": os.environ["WIF_REGION"]},
        signer=signer,
        service_endpoint=os.environ["WIF_ENDPOINT"],
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )
    namespace = client.get_namespace().data
    claims = signer.security_token_container.jwt
    json.dump(
        {
            "namespace": namespace,
            "sub": claims["sub"],
            "key_bits": signer.session_key_supplier.get_key_pair()["private"].key_size,
            "exchanges": len(calls),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
