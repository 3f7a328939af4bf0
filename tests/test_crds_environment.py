"""jwst1f.offline_crds.environment: the CRDS configuration check and the offline environment."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jwst1f.offline_crds import (
    CRDSNotConfiguredError,
    check_crds_configured,
    crds_environment,
    find_context,
    offline_environ,
)


def _fake_cache(root: Path, *, pmap: str | None = "jwst_0000.pmap", config: bool = True) -> Path:
    (root / "mappings" / "jwst").mkdir(parents=True)
    if pmap:
        (root / "mappings" / "jwst" / pmap).write_text("header = {}\n")
    if config:
        (root / "config" / "jwst").mkdir(parents=True)
        (root / "config" / "jwst" / "server_config").write_text(
            repr({"operational_context": pmap or "jwst_0001.pmap"})
        )
    return root


def test_server_url_is_enough():
    check_crds_configured({"CRDS_SERVER_URL": "https://jwst-crds.stsci.edu"})
    check_crds_configured(
        {"CRDS_SERVER_URL": "https://jwst-crds.stsci.edu", "CRDS_PATH": "/nonexistent"}
    )


def test_bad_server_url_is_rejected():
    with pytest.raises(CRDSNotConfiguredError, match="not an http"):
        check_crds_configured({"CRDS_SERVER_URL": "", "CRDS_PATH": "/x"})


def test_nothing_configured_says_what_to_set(tmp_path):
    with pytest.raises(CRDSNotConfiguredError) as info:
        check_crds_configured({"HOME": str(tmp_path)})
    msg = str(info.value)
    assert "CRDS_SERVER_URL=https://jwst-crds.stsci.edu" in msg
    assert "CRDS_PATH" in msg
    assert "jwst1f offline-crds" in msg
    assert "STPIPE_DISABLE_CRDS_STEPPARS=true" in msg
    assert str(tmp_path / "crds_cache") in msg


def test_cache_without_pmap_or_config(tmp_path):
    with pytest.raises(CRDSNotConfiguredError, match="does not exist"):
        check_crds_configured({"CRDS_PATH": str(tmp_path / "missing")})
    root = _fake_cache(tmp_path / "a", pmap=None)
    with pytest.raises(CRDSNotConfiguredError, match=r"\*\.pmap"):
        check_crds_configured({"CRDS_PATH": str(root)})
    root = _fake_cache(tmp_path / "b", config=False)
    with pytest.raises(CRDSNotConfiguredError, match="server_config"):
        check_crds_configured({"CRDS_PATH": str(root)})


def test_usable_cache_and_context(tmp_path):
    root = _fake_cache(tmp_path / "c")
    check_crds_configured({"CRDS_PATH": str(root)})
    check_crds_configured({"CRDS_PATH": str(root), "CRDS_CONTEXT": "jwst_0000.pmap"})
    with pytest.raises(CRDSNotConfiguredError, match="jwst_9999.pmap"):
        check_crds_configured({"CRDS_PATH": str(root), "CRDS_CONTEXT": "jwst_9999.pmap"})
    assert find_context(root) == "jwst_0000.pmap"


def test_default_cache_in_home(tmp_path):
    _fake_cache(tmp_path / "crds_cache")
    check_crds_configured({"HOME": str(tmp_path)})


def test_crds_environment_and_offline_environ(tmp_path):
    root = _fake_cache(tmp_path / "d")
    env = crds_environment(root)
    assert env["CRDS_PATH"] == str(root.resolve())
    assert env["STPIPE_DISABLE_CRDS_STEPPARS"] == "true"
    assert env["CRDS_READONLY_CACHE"] == "1"
    assert env["CRDS_CONTEXT"] == "jwst_0000.pmap"
    assert "CRDS_SERVER_URL" not in env
    assert "CRDS_READONLY_CACHE" not in crds_environment(root, readonly=False)
    full = offline_environ(root, {"CRDS_SERVER_URL": "https://x", "PATH": "/bin"})
    assert "CRDS_SERVER_URL" not in full
    assert full["PATH"] == "/bin"
    check_crds_configured(full)


def test_clear_error_in_subprocess_instead_of_sys_exit(tmp_path):
    """With nothing configured, the check raises our error; CRDS never gets to sys.exit."""
    code = textwrap.dedent(
        """
        from jwst1f.offline_crds import CRDSNotConfiguredError, check_crds_configured
        try:
            check_crds_configured()
        except CRDSNotConfiguredError as exc:
            print("CAUGHT:", exc)
            raise SystemExit(3)
        print("CONFIGURED")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert "CAUGHT: CRDS is not configured" in proc.stdout
    assert "Traceback" not in proc.stderr
