"""Benchmarks of the jwst1f destriper against truth and peers (not part of the library)."""

__all__: list[str] = []
