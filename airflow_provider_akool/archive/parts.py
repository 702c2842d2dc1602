"""Multipart part sizing: stay under S3's 10,000-part limit without buffering more than needed.

Memory of a copy is about part size x (parts in flight + 1), so parts are as small as the object
allows: the default size, grown (in whole MiB) only when the Content-Length would need more than
10,000 parts. Without a Content-Length the object is assumed large: the part size doubles every
1,000 parts, which reaches S3's 5 TiB object limit within 10,000 parts while small and medium
objects still use the default size. S3 accepts parts of different sizes, except that all but the
last must be at least 5 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MiB
UNKNOWN_LENGTH_GROWTH_EVERY = 1_000


def validate_part_size(part_size: int, *, field: str = "part_size") -> int:
    """Return ``part_size`` if it is within S3's limits (5 MiB to 5 GiB), else raise ``ValueError``."""
    if isinstance(part_size, bool) or not isinstance(part_size, int):
        raise ValueError(f"{field}: must be an integer number of bytes")
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"{field}: must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
    return part_size


def part_size_for_length(length: int, base: int = DEFAULT_PART_SIZE) -> int:
    """Smallest part size >= ``base`` (rounded up to a MiB) that fits ``length`` in 10,000 parts."""
    needed = -(-length // MAX_PARTS)
    if needed <= base:
        return base
    return min(MAX_PART_SIZE, -(-needed // MiB) * MiB)


@dataclass(frozen=True)
class PartPlan:
    """Size of each part of one upload; ``length`` is the Content-Length, if announced."""

    length: int | None
    base: int = DEFAULT_PART_SIZE

    def size_of(self, part_number: int) -> int:
        """Bytes in part ``part_number`` (1-based; the last part may be shorter)."""
        if self.length is not None:
            return part_size_for_length(self.length, self.base)
        doublings = (part_number - 1) // UNKNOWN_LENGTH_GROWTH_EVERY
        return min(MAX_PART_SIZE, self.base << doublings)
