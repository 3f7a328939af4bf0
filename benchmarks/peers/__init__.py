"""Peer methods the destriper is compared with: the user's seed routine, jwst's
``CleanFlickerNoiseStep`` and the perfect-mask oracle."""

__all__: list[str] = []
