"""Ids and secrets carry full randomness in every character, whatever their length."""
from collections import Counter

import pytest

from gateway.domain.ids import ALPHABET, new_id

SAMPLES = 1_000


@pytest.mark.parametrize("length", [24, 32, 64])
def test_no_position_of_a_long_secret_is_constant(length):
    secrets = [new_id("whsec", length)[len("whsec_"):] for _ in range(SAMPLES)]
    assert all(len(secret) == length for secret in secrets)
    for position in range(length):
        seen = {secret[position] for secret in secrets}
        # 1,000 uniform draws from 62 characters show all 62 but for a 1-in-10^5 chance; a
        # position with fewer than 50 is not random (the old ids ended in a run of "a"s).
        assert len(seen) >= 50, f"position {position} of {length} shows only {sorted(seen)}"


def test_characters_are_uniform_over_the_alphabet():
    counts = Counter("".join(new_id("whsec", 64)[len("whsec_"):] for _ in range(SAMPLES)))
    assert set(counts) == set(ALPHABET)
    expected = SAMPLES * 64 / len(ALPHABET)
    chi_square = sum((counts[character] - expected) ** 2 / expected for character in ALPHABET)
    # 61 degrees of freedom: the statistic exceeds 120 with probability about 1e-5 for a uniform
    # source; `byte % 62` without dropping bytes 248..255 gives about 450 here.
    assert chi_square < 120, counts.most_common(8)


def test_ids_do_not_repeat():
    assert len({new_id("pay") for _ in range(10_000)}) == 10_000
