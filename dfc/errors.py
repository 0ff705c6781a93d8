"""Errors shared by every implementation of dfc (SPEC §9).

A stream that breaks SPEC.md raises :class:`DecodeError` (a ``ValueError``);
one that merely ends too early raises its subclass :class:`TruncatedStreamError`.
Each carries a stable short ``code`` (SPEC Table 10), the byte ``offset`` in the
stream where the problem was found, and the SPEC section of the broken rule, so
that the reference and the fast decoder can be compared code for code.
Misuse of the API (bad arguments to ``encode``) raises plain ``ValueError`` or
``TypeError``.
"""

from __future__ import annotations


class DecodeError(ValueError):
    """A stream that does not conform to SPEC.md."""

    def __init__(self, code: str, offset: int, section: str, message: str) -> None:
        self.code = code
        self.offset = offset
        self.section = section
        self.detail = message
        super().__init__(f"{message} (at byte {offset}; {code}, SPEC §{section})")

    def __reduce__(self) -> tuple[type, tuple[str, int, str, str]]:
        return (type(self), (self.code, self.offset, self.section, self.detail))


class TruncatedStreamError(DecodeError):
    """A stream that ends before the syntax it announces is complete."""
