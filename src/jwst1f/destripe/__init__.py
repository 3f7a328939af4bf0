"""The 1/f destriper on arrays: masking, smooth background, line model, apply.

The only entry points most users need are :func:`destripe` and :class:`DestripeResult`;
the submodules hold the pieces (see ``docs/algorithm.md``).
"""

from jwst1f.destripe.core import DestripeResult, destripe

__all__ = ["destripe", "DestripeResult"]
