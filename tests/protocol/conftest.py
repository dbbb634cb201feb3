"""Hypothesis profiles for the protocol tests: quick by default, thorough with WSEP_FULL=1."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "wsep-ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "wsep-full",
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("wsep-full" if os.environ.get("WSEP_FULL") == "1" else "wsep-ci")
