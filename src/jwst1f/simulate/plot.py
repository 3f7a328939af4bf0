"""A quick-look figure of a simulated exposure and its truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jwst1f.simulate.exposure import SimulatedExposure

__all__ = ["plot_exposure"]


def _limits(a: np.ndarray, lo: float = 1.0, hi: float = 99.0) -> tuple[float, float]:
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return 0.0, 1.0
    vmin, vmax = np.percentile(finite, [lo, hi])
    return float(vmin), float(vmax if vmax > vmin else vmin + 1e-6)


def plot_exposure(exposure: SimulatedExposure, path: str | os.PathLike) -> Path:
    """Write a 2 x 2 PNG: rate, 1/f component, rate without 1/f minus scene, scene.

    Parameters
    ----------
    exposure : SimulatedExposure
        The exposure (first integration of a rateints exposure).
    path : path-like
        Output PNG.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def first(a: np.ndarray) -> np.ndarray:
        return a[0] if a.ndim == 3 else a

    data = first(exposure.data)
    no1f = first(exposure.rate_no1f)
    panels = [
        ("rate (DN/s)", data),
        ("correlated 1/f component = rate - RATE_NO1F", data - no1f),
        ("RATE_NO1F - SCENE (white, Poisson, refpix noise)", no1f - exposure.scene),
        ("SCENE, noise-free (DN/s)", exposure.scene),
    ]
    h = exposure.header
    aspect = data.shape[0] / data.shape[1]
    fig, axes = plt.subplots(2, 2, figsize=(11, 2.0 + 9.0 * min(max(aspect, 0.15), 1.0)))
    for ax, (title, img) in zip(axes.ravel(), panels, strict=True):
        lo, hi = (1.0, 99.0) if "SCENE," not in title else (1.0, 99.5)
        vmin, vmax = _limits(img, lo, hi)
        im = ax.imshow(img, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (DMS pixels)", fontsize=8)
        ax.set_ylabel("y", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(
        f"{exposure.basename}: {h.get('INSTRUME')} {h.get('DETECTOR')} {h.get('SUBARRAY')} "
        f"{h.get('EXP_TYPE')}  FASTAXIS={h.get('FASTAXIS')} NOUTPUTS={h.get('NOUTPUTS')}",
        fontsize=10,
    )
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
