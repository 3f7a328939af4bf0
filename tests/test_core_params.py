"""Destriper parameters and their precedence (jwst1f.params)."""

from __future__ import annotations

import json

import pytest

from jwst1f.params import DestripeParams, load_params_file, resolve_params


def test_defaults_roundtrip_json():
    p = DestripeParams()
    d = json.loads(p.to_json())
    assert DestripeParams.from_mapping(d) == p
    assert p.dq_bitmask() & 1  # DO_NOT_USE


def test_unknown_key_named():
    with pytest.raises(ValueError, match="clip_sgima"):
        DestripeParams.from_mapping({"clip_sgima": 3})


def test_invalid_values():
    with pytest.raises(ValueError, match="even_odd"):
        DestripeParams(even_odd="maybe")
    with pytest.raises(ValueError, match="DQ flag"):
        DestripeParams(dq_flags=("NOT_A_FLAG",))
    with pytest.raises(ValueError):
        DestripeParams(clip_sigma=-1)
    with pytest.raises(ValueError):
        DestripeParams(clip_iterations=1.5)


def test_types_normalised_and_dashes():
    p = DestripeParams.from_mapping(
        {"clip-sigma": "2.5", "fit_by_channel": "false", "dq_flags": "DO_NOT_USE,SATURATED"}
    )
    assert p.clip_sigma == 2.5 and p.fit_by_channel is False
    assert p.dq_flags == ("DO_NOT_USE", "SATURATED")
    assert DestripeParams(even_odd=True).even_odd == "on"


def test_precedence():
    settings = {
        "default": {"clip_sigma": 2.0, "dilate_radius": 1, "min_pixels": 30, "background_box": 32},
        "instrument": {"NIRCAM": {"clip_sigma": 2.5, "dilate_radius": 3, "min_pixels": 40}},
        "exp_type": {"nrc_image": {"clip_sigma": 2.7, "dilate_radius": 4}},
        "detector": {"NRCA1": {"clip_sigma": 2.9}},
    }
    p = resolve_params(
        settings,
        instrument="NIRCAM",
        exp_type="NRC_IMAGE",
        detector="NRCA1",
        programme={"clip_sigma": 3.3},
    )
    assert p.clip_sigma == 3.3  # programme wins
    assert p.dilate_radius == 4  # exp_type over instrument
    assert p.min_pixels == 40  # instrument over default
    assert p.background_box == 32  # default
    q = resolve_params(settings, instrument="NIRCAM", exp_type="NRC_IMAGE", detector="NRCA1")
    assert q.clip_sigma == 2.9  # detector over exp_type
    r = resolve_params(settings, instrument="NIRSPEC", exp_type="NRS_IFU", detector="NRS1")
    assert r.clip_sigma == 2.0 and r.dilate_radius == 1
    assert resolve_params(None, instrument="X", exp_type="Y", detector="Z") == DestripeParams()
    flat = resolve_params({"clip_sigma": 4}, instrument="X", exp_type="Y", detector="Z")
    assert flat.clip_sigma == 4.0


def test_bad_layer_named():
    with pytest.raises(ValueError, match="instrumnet"):
        resolve_params({"default": {}, "instrumnet": {}}, instrument="", exp_type="", detector="")


def test_load_params_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("clip_sigma: 2.5\nlowpass: 'on'\n")
    assert load_params_file(f) == {"clip_sigma": 2.5, "lowpass": "on"}
    g = tmp_path / "layered.yaml"
    g.write_text("default:\n  clip_sigma: 2.5\ninstrument:\n  NIRSPEC:\n    lowpass: 'on'\n")
    d = load_params_file(g)
    p = resolve_params(d, instrument="NIRSPEC", exp_type="NRS_IFU", detector="NRS1")
    assert p.lowpass == "on" and p.clip_sigma == 2.5
    bad = tmp_path / "bad.yaml"
    bad.write_text("instrument:\n  NIRCAM:\n    nonsense: 1\n")
    with pytest.raises(ValueError, match="nonsense"):
        load_params_file(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_params_file(tmp_path / "missing.yaml")
