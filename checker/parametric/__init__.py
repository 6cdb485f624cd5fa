"""Proofs for every geometry: a parameterized interpretation of
v4.13-counter-fix (relation.py), quantified invariants (invariants.py),
their initiation and consecution obligations (prove.py), and the check that
the finite model's steps are steps of the parameterized relation at given
geometries (conformance.py)."""
