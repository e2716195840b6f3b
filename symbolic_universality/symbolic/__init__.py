"""Algebra and SMT backends: for-all-data proofs of every GD step (construction.md sec. 6).

* :mod:`.data`        symbolic data sets (``x_i_j``), class assignments, label symbols;
* :mod:`.obligations` the trajectory theorem's obligations, one per step and block;
* :mod:`.normal`      the polynomial normal form of the algebra backend;
* :mod:`.algebra`     identities by normal form and case analysis (sympy backend);
* :mod:`.smt`         negations as SMT-LIB2, decided by z3 (re-checkable with cvc5);
* :mod:`.replay`      exact replay of counterexamples (``verify.steps.gd_step``);
* :mod:`.reference`   independent backprop and algorithms on any backend;
* :mod:`.prover`      :func:`prove_extension` and the certificate;
* :mod:`.rules`       the exact update rules (``symuni rules``);
* :mod:`.cli`         the ``prove`` / ``rules`` commands and the verify backends.

The backends themselves live in ``backends.symbolic`` (``SympyBackend``, ``Z3Backend``).
Submodules are imported on use (the CLI stays fast).
"""
