#!/usr/bin/env python3
"""Known-answer vectors for zeal-protocol's Paillier, made with python-paillier (`phe`).

phe uses g = n + 1 like we do. For a 2048-bit key this writes p, q, plaintexts with the
randomness r and phe's raw ciphertext (1 + m n) r^n mod n^2, ciphertexts phe encrypted with its
own randomness (we must decrypt them), and a homomorphic sum computed by phe.

Run once, with phe and gmpy2 installed:  python3 make_phe_vectors.py > phe_vectors.json
"""
import json
import secrets

import phe
from phe import paillier

pub, priv = paillier.generate_paillier_keypair(n_length=2048)
n = pub.n
cases = []
for m in [0, 1, 42, 2**40 - 1, 123456789012345678901234567890, n - 1]:
    r = secrets.randbelow(n - 2) + 1
    cases.append({"m": hex(m), "r": hex(r), "c": hex(pub.raw_encrypt(m, r_value=r))})
own = []
for m in [7, 2**62, 31337]:
    c = pub.raw_encrypt(m)  # phe's own randomness, unknown to us
    own.append({"m": hex(m), "c": hex(c)})
a, b = 1_000_000, 2_345_678
ea, eb = pub.encrypt(a), pub.encrypt(b)
total = ea + eb
print(json.dumps({
    "generator": f"python-paillier {phe.__version__}",
    "p": hex(priv.p), "q": hex(priv.q), "n": hex(n),
    "raw_encrypt": cases,
    "phe_encrypted": own,
    "sum": {"a": a, "b": b, "ca": hex(ea.ciphertext(be_secure=False)),
            "cb": hex(eb.ciphertext(be_secure=False)),
            "c_sum": hex(total.ciphertext(be_secure=False))},
}, indent=1))
