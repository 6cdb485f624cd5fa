"""Proofs for every geometry: a parameterized interpretation of
v4.13-counter-fix (scope.py, relation.py), quantified invariants of no-use-after-free
(invariants.py), their initiation and consecution obligations (prove.py),
the check that the finite model's steps are steps of the parameterized
relation at given geometries (conformance.py), the negative control
(controls.py), the ghost count and sum functions with their lemmas
(counting.py), and `check-model --every-geometry` (report.py)."""
