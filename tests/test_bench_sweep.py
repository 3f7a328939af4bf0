"""The random sweep of the independent generator (benchmarks/sweep.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import sweep  # noqa: E402


def test_sweep_frames_are_drawn_reproducibly_within_their_ranges():
    """Frame i's settings depend on i alone; they stay within the documented ranges, and
    MIRI keeps its defaults."""
    vs = [sweep.sweep_variant(i) for i in range(40)]
    assert [v.name for v in vs] == [sweep.sweep_variant(i).name for i in range(40)]
    assert sweep.sweep_variant(7) == vs[7]
    for i, v in enumerate(vs):
        assert v.name.split()[1] == sweep.POOL[i % len(sweep.POOL)]
        if v.exp_type.startswith("MIR"):
            assert not v.refpix_step and v.alpha == 1.0
            continue
        assert 0.6 <= v.alpha <= 1.8
        assert 0.01 <= v.amp_common <= 10**-0.7 and 10**-2.5 <= v.amp_output <= 0.1
        assert 0 <= v.pause < 40
    steps = [v.refpix_step for v in vs if not v.exp_type.startswith("MIR")]
    assert 0 < np.mean(steps) < 1
    assert len({v.alpha for v in vs}) > 30


def test_sweep_runs_and_reports_a_frame(tmp_path):
    """One small frame end to end (no CleanFlickerNoiseStep): the row, the summary and the
    failure list agree with the metrics."""
    out = tmp_path / "SWEEP.md"
    assert sweep.main(["--frames", "1", "--start", "6", "--no-cfn", "--write", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "| 06" in text and "nircam_sub640_1out" in text
    assert "Command: `python -m benchmarks.sweep --frames 1 --start 6 --no-cfn" in text
    res = sweep.run_sweep(range(6, 7), cfn=False)
    rows = res["06 nircam_sub640_1out"]
    assert rows["jwst1f"]["x_oracle"] < 1.2  # (a one-output window at ordinary noise)
    assert sweep.failures(res) == []
    rows["jwst1f"]["x_oracle"] = 2.0  # a frame above the limit is listed
    assert sweep.failures(res) == ["06 nircam_sub640_1out"]
    assert "(06)" in "\n".join(sweep.markdown(res, "cmd"))
