"""Atomic writes: a run killed mid-write leaves no partial output, and a rerun completes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from astropy.io import fits
from test_io_helpers import file_digest, make_rate

from jwst1f.io import atomic_path, destripe_file


def test_atomic_path_moves_only_on_success(tmp_path):
    target = tmp_path / "f.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "done"  # the old content survives a failed rewrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # temp removed


def test_exception_during_write_leaves_nothing(tmp_path, monkeypatch):
    src = make_rate(tmp_path / "in" / "x_rate.fits")
    digest = file_digest(src)

    def broken_writeto(self, name, *args, **kwargs):
        with open(name, "wb") as f:
            f.write(b"SIMPLE  =                    T" + b" " * 500)
        raise OSError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", broken_writeto)
    with pytest.raises(OSError, match="disk full"):
        destripe_file(src, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert file_digest(src) == digest


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from astropy.io import fits
    import jwst1f.io as io

    def dying_writeto(self, name, *args, **kwargs):
        with open(name, "wb") as f:
            f.write(b"SIMPLE  =                    T" + b" " * 5000)
            f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    fits.HDUList.writeto = dying_writeto
    io.destripe_file(sys.argv[1], sys.argv[2], save_model=True)
    """
)


def test_killed_run_leaves_no_partial_file_and_rerun_completes(tmp_path):
    src = make_rate(tmp_path / "in" / "x_rate.fits")
    digest = file_digest(src)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(src), str(out)], capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    names = [p.name for p in out.iterdir()]
    assert "x_rate.fits" not in names and "x_rate_1fmodel.fits" not in names
    assert names and all(n.startswith(".") and n.endswith(".j1ftmp") for n in names)

    written = destripe_file(src, out, save_model=True)  # rerun completes the work
    assert sorted(p.name for p in out.iterdir()) == ["x_rate.fits", "x_rate_1fmodel.fits"]
    with fits.open(written) as hdul:
        assert hdul[0].header["J1FSTAT"] == "COMPLETE"
    assert file_digest(src) == digest
