"""Lemma `crossentropy`: run its machine-checked proof.

The proof is symbolic_universality/proofs/crossentropy.py.

Usage from the repository root, installed or not: ``python proofs/crossentropy.py``.
Prints the statement, the method and PROVED / FAILED / UNKNOWN; exits 0 only if PROVED.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symbolic_universality.proofs import crossentropy as lemma  # noqa: E402
from symbolic_universality.proofs._result import print_result  # noqa: E402

if __name__ == "__main__":
    result = lemma.prove()
    print_result(result)
    sys.exit(0 if result.proved else 1)
