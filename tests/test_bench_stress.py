"""The stress cases (benchmarks/stress.py) and the perturbations of the independent
generator they use."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import independent as ind  # noqa: E402
from benchmarks import stress  # noqa: E402
from jwst1f.geometry import layout_from_header  # noqa: E402
from jwst1f.simulate.metadata import header_from_meta  # noqa: E402

_SMALL = {v.name: v for v in ind.SUBARRAYS}["NRCA1 SUB160"]


def _frame(v: ind.Variant, seed: int = 3) -> dict[str, np.ndarray]:
    layout = layout_from_header(header_from_meta(ind._meta(v)))
    return ind.make_frame(np.random.default_rng(seed), layout, v)


def _with(**extra) -> ind.Variant:
    return dataclasses.replace(_SMALL, extra=_SMALL.extra | extra)


def test_outliers_are_single_unflagged_pixels_known_to_the_truth_only():
    """2 % of the pixels become outliers, a fifth of them negative; the data change at
    those pixels only, by the scene's change there (plus its photon noise), and they are
    not empty."""
    base, hot = _frame(_SMALL), _frame(_with(outliers=0.02))
    changed = hot["scene"] != base["scene"]
    assert 0.015 < changed.mean() < 0.025
    assert 0.1 < (hot["scene"] < base["scene"])[changed].mean() < 0.3
    for key in ("sci", "rate_no1f", "rate_clean"):
        np.testing.assert_array_equal(hot[key][~changed], base[key][~changed])
        step = (hot[key] - base[key])[changed] / (hot["scene"] - base["scene"])[changed]
        assert np.median(np.abs(step - 1.0)) < 0.2
    assert not hot["empty"][changed].any()
    np.testing.assert_array_equal(hot["empty"][~changed], base["empty"][~changed])


def test_crowding_adds_stars_and_leaves_the_rest_alone():
    """Ten times the stars: more source light, more non-empty pixels; where no added star
    shines the frame is the unperturbed one."""
    base, crowded = _frame(_SMALL), _frame(_with(crowding=10.0))
    changed = crowded["scene"] != base["scene"]
    assert crowded["scene"].sum() > base["scene"].sum()
    assert crowded["empty"].mean() < base["empty"].mean()
    np.testing.assert_array_equal(crowded["sci"][~changed], base["sci"][~changed])


def test_a_nan_box_is_nan_in_the_data_only():
    """The box (fractions of the frame) is NaN in the data, nowhere else, and the truth is
    untouched."""
    base, holed = _frame(_SMALL), _frame(_with(nan_box=(0.25, 0.5, 0.0, 1.0)))
    ny = base["sci"].shape[0]
    box = np.zeros(base["sci"].shape, bool)
    box[int(0.25 * ny) : int(0.5 * ny)] = True
    np.testing.assert_array_equal(np.isnan(holed["sci"]), box | np.isnan(base["sci"]))
    np.testing.assert_array_equal(holed["sci"][~box], base["sci"][~box])
    np.testing.assert_array_equal(holed["rate_no1f"], base["rate_no1f"])


def test_stress_runs_a_case_next_to_its_base_and_reports_both():
    """A small window with 2 % outliers, end to end (no CleanFlickerNoiseStep): the case and
    its unperturbed variant are both run, and the row shows both of jwst1f's numbers."""
    case = stress._stress("NRCA1 SUB160", "outliers 2 %", outliers=0.02)
    res = stress.run_stress((case,), (0,), cfn=False)
    assert set(res) == {"NRCA1 SUB160", "NRCA1 SUB160 outliers 2 %"}
    x_case = res["NRCA1 SUB160 outliers 2 %"]["jwst1f"]["x_oracle"]
    x_base = res["NRCA1 SUB160"]["jwst1f"]["x_oracle"]
    assert np.isfinite(x_case) and np.isfinite(x_base)
    text = "\n".join(stress.markdown(res, (case,), (0,), "cmd"))
    assert f"| NRCA1 SUB160 outliers 2 % | {x_base:.2f} | **{x_case:.2f}** |" in text


def test_stress_cli_rejects_an_unknown_case(capsys):
    """``--only`` matching nothing is a usage error, not an empty table."""
    with pytest.raises(SystemExit) as exc:
        stress.main(["--only", "no such case", "--no-cfn"])
    assert exc.value.code == 2
    assert "no case name contains" in capsys.readouterr().err
