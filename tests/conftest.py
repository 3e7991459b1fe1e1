"""Shared fixtures. Hypothesis profiles: 'ci' is the default; 'fuzz' runs long.

'ci' is derandomized: every run tries the same examples, so a test run (and CI) can only
go red because the code changed, never because Hypothesis drew a new counterexample by
chance. 'fuzz' (HYPOTHESIS_PROFILE=fuzz) explores with fresh random examples; put what it
finds into the tests as explicit examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("fuzz", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
