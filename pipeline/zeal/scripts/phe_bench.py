"""python-paillier (phe, with gmpy2) ops/s at a given key size, as JSON on stdout.

Run by `zeal bench crypto` in the same process tree as our own measurements, so the two are
compared on the same machine at the same time. Public API calls, as the original Energenies
prototype used them.
"""
import json
import sys
import time

from phe import paillier

bits = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
budget = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
pub, priv = paillier.generate_paillier_keypair(n_length=bits)


def rate(op):
    op()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget or n < 3:
        op()
        n += 1
    return n / (time.perf_counter() - start)


x = pub.encrypt(123456789)
y = pub.encrypt(987654321)
try:
    import gmpy2  # noqa: F401
    accel = "gmpy2"
except ImportError:
    accel = "none"
print(json.dumps({
    "accelerator": accel,
    "encrypt": rate(lambda: pub.encrypt(123456789)),
    "decrypt": rate(lambda: priv.decrypt(x)),
    "add": rate(lambda: x + y),
}))
