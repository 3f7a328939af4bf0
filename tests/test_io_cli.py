"""``jwst1f destripe`` on the command line (subprocess, like a user)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits
from test_io_helpers import file_digest, make_rate

from jwst1f.io import cli_main


def _jwst1f() -> list[str]:
    exe = shutil.which("jwst1f") or str(Path(sys.executable).with_name("jwst1f"))
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "jwst1f"]


def _run(args, **kw):
    return subprocess.run(_jwst1f() + list(args), capture_output=True, text=True, timeout=300, **kw)


def test_help_lists_the_options_and_parameters():
    proc = _run(["destripe", "--help"])
    assert proc.returncode == 0
    for flag in ("--outdir", "--params", "--plots", "--save-model", "--no-variance", "--mask"):
        assert flag in proc.stdout
    assert "--clip-sigma" in proc.stdout  # DestripeParams fields, same names


@pytest.mark.slow
def test_cli_batch_with_a_bad_file(tmp_path):
    a = make_rate(tmp_path / "in" / "a_rate.fits", seed=1)
    b = make_rate(tmp_path / "in" / "b_rate.fits", seed=2)
    bad = tmp_path / "in" / "bad_rate.fits"
    bad.write_bytes(a.read_bytes()[:10000])
    digests = {p: file_digest(p) for p in (a, b, bad)}
    out, plots = tmp_path / "out", tmp_path / "plots"
    proc = _run(
        [
            "destripe",
            str(a),
            str(bad),
            str(b),
            "-o",
            str(out),
            "--plots",
            str(plots),
            "--save-model",
            "--clip-sigma",
            "2.5",
        ]
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1 and "bad_rate.fits: truncated" in err_lines[0]
    assert "2 written" in proc.stderr and "1 failed" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "a_rate.fits",
        "a_rate_1fmodel.fits",
        "b_rate.fits",
        "b_rate_1fmodel.fits",
    ]
    for stem in ("a_rate", "b_rate"):
        assert (plots / f"{stem}_1f_images.png").stat().st_size > 10_000
        assert (plots / f"{stem}_1f_power.png").stat().st_size > 10_000
        metrics = json.loads((plots / f"{stem}_1fmetrics.json").read_text())
        assert metrics["params"]["clip_sigma"] == 2.5
    assert json.loads(fits.getval(out / "a_rate.fits", "J1FPARS"))["clip_sigma"] == 2.5
    assert all(file_digest(p) == d for p, d in digests.items())


def test_cli_all_good_exits_zero_in_process(tmp_path, capsys):
    a = make_rate(tmp_path / "a_rate.fits")
    assert cli_main([str(a), "-o", str(tmp_path / "o"), "--no-variance", "-q"]) == 0
    with fits.open(a) as x, fits.open(tmp_path / "o" / "a_rate.fits") as y:
        assert (x["ERR"].data == y["ERR"].data).all()


@pytest.mark.parametrize(
    "args",
    [
        ["--clip-sigma", "-1"],  # invalid value
        ["--params", "does-not-exist.yaml"],
    ],
)
def test_cli_bad_parameters_exit_2(tmp_path, args, capsys):
    a = make_rate(tmp_path / "a_rate.fits")
    assert cli_main([str(a), "-o", str(tmp_path / "o"), *args]) == 2
    assert "bad parameters" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_unknown_param_in_file_exit_2(tmp_path, capsys):
    a = make_rate(tmp_path / "a_rate.fits")
    pfile = tmp_path / "p.yaml"
    pfile.write_text("clip_sigmaa: 3\n")
    assert cli_main([str(a), "-o", str(tmp_path / "o"), "--params", str(pfile)]) == 2
    assert "clip_sigmaa" in capsys.readouterr().err


def test_cli_usage_error_exit_2(capsys):
    assert cli_main([]) == 2  # no inputs, no -o
