"""In-process signing throughput of the official Python SDK, for bench/sign_throughput.sh.

usage: python py_sign_throughput.py KEY_FILE SECONDS
Signs the same GET as the Rust bench (oci.signer.Signer on a prepared request copy, fixed date)
in a loop for SECONDS on one thread and prints `sdk_sign_1t=<signatures per second>`.
"""

import sys
import time

import oci.signer
from oci._vendor import requests


def main():
    key_file, seconds = sys.argv[1], float(sys.argv[2])
    signer = oci.signer.Signer(
        "ocid1.tenancy.oc1..t", "ocid1.user.oc1..u", "00:00", key_file
    )
    prepared = requests.Request(
        "GET",
        "https://objectstorage.us-ashburn-1.oraclecloud.com/n",
        headers={"date": "Sat, 28 Nov 2026 16:59:50 GMT"},
    ).prepare()
    for _ in range(50):  # warm up
        signer(prepared.copy())
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(16):
            signer(prepared.copy())
        n += 16
    print("sdk_sign_1t=%.1f" % (n / (time.perf_counter() - start)))


if __name__ == "__main__":
    main()
