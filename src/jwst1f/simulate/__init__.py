"""Physically modelled JWST exposures with known truth.

The simulator writes ``uncal`` ramps (Level1b, uint16) and ``rate``/``rateints`` products
whose correlated readout noise is generated along the pixel clock of the detector (HxRG 1/f
noise common to all outputs and per output, alternating column noise, pedestals; MIRI
column-interleaved banding), together with the truth: the same exposure without the 1/f
components, the noise-free scene, the sky, and a mask of empty pixels.

Quick use::

    from jwst1f.simulate import simulate_exposure, write_rate, write_truth
    exp = simulate_exposure(detector="NRCA1", scene="field", ngroups=6, seed=1)
    write_rate(exp, "out"); write_truth(exp, "out")

Named benchmark cases: :data:`jwst1f.simulate.cases.CASES`. See ``docs/simulator.md``.
"""

from jwst1f.simulate.exposure import SimulatedExposure, simulate_exposure
from jwst1f.simulate.metadata import ExposureIds, Pointing
from jwst1f.simulate.programme import simulate_programme
from jwst1f.simulate.writers import product_path, write_rate, write_truth, write_uncal

__all__ = [
    "SimulatedExposure",
    "simulate_exposure",
    "write_uncal",
    "write_rate",
    "write_truth",
    "product_path",
    "simulate_programme",
    "Pointing",
    "ExposureIds",
]
