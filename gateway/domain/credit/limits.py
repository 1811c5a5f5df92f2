"""The limit policy: score band -> installment credit limit (fen).

Configured as text (setting `credit_limit_policy`), one `band:lowest score:limit in fen` per band,
best band first, the last band's lowest score at or under the scale's minimum so every score has a
band. Customers never scored keep the single fallback setting `installment_credit_limit`.

>>> policy = LimitPolicy.parse("A:720:5000000,B:660:3000000,C:600:1500000,D:0:500000")
>>> policy.band_for(735), policy.band_for(660), policy.band_for(310)
(Band(name='A', lowest=720, limit=5000000), Band(name='B', lowest=660, limit=3000000), Band(name='D', lowest=0, limit=500000))
"""
from __future__ import annotations

from dataclasses import dataclass

class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Band:
    name: str
    lowest: int  # the lowest score in the band
    limit: int  # fen


@dataclass(frozen=True)
class LimitPolicy:
    bands: tuple[Band, ...]  # best (highest lowest score) first

    @classmethod
    def parse(cls, text: str) -> LimitPolicy:
        bands = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            try:
                name, lowest, limit = item.split(":")
                bands.append(Band(name.strip(), int(lowest), int(limit)))
            except ValueError:
                raise PolicyError(f"credit limit policy item {item!r} is not band:lowest_score:limit_fen") from None
        if not bands:
            raise PolicyError("the credit limit policy has no bands")
        if any(b.lowest >= a.lowest for a, b in zip(bands, bands[1:])):
            raise PolicyError("credit limit policy bands must go from the highest score down")
        if any(b.limit > a.limit for a, b in zip(bands, bands[1:])) or any(band.limit < 0 for band in bands):
            raise PolicyError("a better band may not have a lower limit, and no limit is negative")
        if bands[-1].lowest > 0:
            raise PolicyError("the last band must start at 0 so that every score has a band")
        return cls(tuple(bands))

    def band_for(self, score: int) -> Band:
        return next(band for band in self.bands if score >= band.lowest)
