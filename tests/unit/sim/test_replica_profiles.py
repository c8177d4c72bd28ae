"""Profiles: lookup, overrides with type conversion, validation."""

from __future__ import annotations

import re

import pytest

from forescale.sim.replica_profiles import PROFILES, UnknownProfileError, get_profile


def test_unknown_profile_lists_the_known_names() -> None:
    with pytest.raises(UnknownProfileError, match=re.escape("llama-3.1-8b-h100")):
        get_profile("gpt-5")


def test_overrides_convert_strings_to_the_field_type() -> None:
    profile = get_profile("llama-3.1-8b-h100", max_num_seqs="64", decode_base_seconds="0.01")
    assert profile.max_num_seqs == 64
    assert profile.decode_base_seconds == 0.01
    assert PROFILES["llama-3.1-8b-h100"].max_num_seqs == 256


def test_unknown_or_invalid_override_is_refused() -> None:
    with pytest.raises(ValueError, match="max_num_seqs"):
        get_profile("llama-3.1-8b-h100", max_seqs=3)
    with pytest.raises(ValueError, match="expected int"):
        get_profile("llama-3.1-8b-h100", max_num_seqs="many")
    with pytest.raises(ValueError, match="at least 1"):
        get_profile("llama-3.1-8b-h100", kv_cache_tokens=0)


def test_only_measured_profiles_claim_calibration() -> None:
    for profile in PROFILES.values():
        assert profile.calibrated == ("ESTIMATE" not in profile.description)
