"""Associations regenerated from headers: validated by jwst's own loader, members beside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jwst.associations import load_asn
from wf_helpers import FLIGHT_DIR, make_programme

from jwst1f.associations import (
    AssociationError,
    exposure_base,
    exposure_info,
    level2_association,
    level2_associations,
    level3_associations,
    level3_products,
    stage2_for,
    stage3_for,
)


def _load(path: Path):
    with open(path) as fh:
        return load_asn(fh)


def _members(asn) -> list[dict]:
    return [m for prod in asn["products"] for m in prod["members"]]


@pytest.fixture
def flight_copies(tmp_path):
    """The three real flight NIRCam uncal headers shipped with jwst, as rate files."""
    out = []
    for src in sorted(FLIGHT_DIR.glob("*_uncal.fits")):
        dst = tmp_path / src.name.replace("_uncal", "_rate")
        dst.write_bytes(src.read_bytes())
        out.append(dst)
    assert len(out) == 3
    return out


def test_exposure_info_reads_flight_header():
    info = exposure_info(FLIGHT_DIR / "jw01075001001_03105_00009_nrca2_uncal.fits")
    assert info.program == "01075"
    assert info.observation == "001"
    assert info.detector == "NRCA2"
    assert info.exp_type == "NRC_CORON"
    assert info.optical_elements == ("f210m", "maskrnd")
    assert info.base == "jw01075001001_03105_00009_nrca2"
    assert info.stage2 == "image2"
    assert info.stage3 is None  # coronagraphy has its own level-3 pipeline


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("jw01_02_00001_nrca1_uncal.fits", "jw01_02_00001_nrca1"),
        ("jw01_02_00001_nrca1_rateints.fits", "jw01_02_00001_nrca1"),
        ("/a/b/jw01_02_00001_nrs1_cal.fits", "jw01_02_00001_nrs1"),
        ("jw01-o001_t001_nircam_clear-f200w_i2d.fits", "jw01-o001_t001_nircam_clear-f200w_i2d"),
    ],
)
def test_exposure_base(name, base):
    assert exposure_base(name) == base


def test_stage_mapping():
    assert stage2_for("NRC_IMAGE") == "image2" and stage3_for("NRC_IMAGE") == "image3"
    assert stage2_for("NRS_IFU") == "spec2" and stage3_for("NRS_IFU") == "spec3"
    assert stage3_for("NRC_TSIMAGE") is None
    assert stage2_for("NOT_A_MODE") is None


def test_level2_flight_headers_load_with_jwst(flight_copies):
    written = level2_associations(flight_copies)
    assert [p.parent for p in written] == [f.parent for f in flight_copies]
    for asn_path, rate in zip(written, flight_copies, strict=True):
        asn = _load(asn_path)
        assert asn["asn_type"] == "image2"
        assert len(asn["products"]) == 1
        assert asn["products"][0]["name"] == exposure_base(rate)
        members = _members(asn)
        assert [m["expname"] for m in members] == [rate.name]  # bare name
        for m in members:
            assert (asn_path.parent / m["expname"]).is_file()


def test_level2_background_and_imprint(tmp_path):
    sci = make_programme(
        tmp_path,
        exposures=[{"EXPOSURE": 1, "EXP_TYPE": "NRS_IFU", "DETECTOR": "NRS1"}],
        suffix="rate",
    )[0]
    bkg = make_programme(
        tmp_path,
        exposures=[{"EXPOSURE": 2, "EXP_TYPE": "NRS_IFU", "DETECTOR": "NRS1", "BKGDTARG": True}],
        suffix="rate",
    )[0]
    imp = make_programme(
        tmp_path,
        exposures=[{"EXPOSURE": 3, "EXP_TYPE": "NRS_IFU", "DETECTOR": "NRS1", "IS_IMPRT": True}],
        suffix="rate",
    )[0]
    (path,) = level2_associations([sci], background=[bkg], imprint=[imp])
    asn = _load(path)
    assert asn["asn_type"] == "spec2"
    kinds = {m["exptype"]: m["expname"] for m in _members(asn)}
    assert kinds == {"science": sci.name, "background": bkg.name, "imprint": imp.name}
    assert all((path.parent / name).is_file() for name in kinds.values())


def test_level2_background_other_detector_not_attached(tmp_path):
    sci, bkg = make_programme(
        tmp_path,
        exposures=[
            {"EXPOSURE": 1, "EXP_TYPE": "NRS_IFU", "DETECTOR": "NRS1"},
            {"EXPOSURE": 2, "EXP_TYPE": "NRS_IFU", "DETECTOR": "NRS2"},
        ],
        suffix="rate",
    )
    (path,) = level2_associations([sci], background=[bkg])
    assert [m["exptype"] for m in _members(_load(path))] == ["science"]


def test_level2_member_elsewhere_is_refused(tmp_path):
    sci = make_programme(tmp_path / "a", exposures=[{"EXPOSURE": 1}], suffix="rate")[0]
    bkg = make_programme(tmp_path / "b", exposures=[{"EXPOSURE": 2}], suffix="rate")[0]
    with pytest.raises(AssociationError, match="not in the folder"):
        level2_association(sci, background=[bkg])


def test_level3_groups_by_target_and_configuration(tmp_path):
    exps = []
    for n, (det, filt) in enumerate(
        [("NRCA1", "F200W"), ("NRCA2", "F200W"), ("NRCA1", "F150W"), ("NRCA2", "F150W")], 1
    ):
        exps.append({"EXPOSURE": n, "DETECTOR": det, "FILTER": filt})
    exps.append({"EXPOSURE": 9, "DETECTOR": "NRCA1", "FILTER": "F200W", "TARGPROP": "OTHER"})
    exps.append({"EXPOSURE": 10, "DETECTOR": "NRCA1", "EXP_TYPE": "NRC_TSIMAGE"})
    files = make_programme(tmp_path, exposures=exps, suffix="cal")
    products = level3_products(files)
    names = [p.name for p in products]
    # two targets: t001 = the flight target, t002 = "OTHER" (sorted by name)
    assert names == [
        "jw01075-o001_t001_nircam_clear-f150w",
        "jw01075-o001_t001_nircam_clear-f200w",
        "jw01075-o001_t002_nircam_clear-f200w",
    ]
    assert [len(p.members) for p in products] == [2, 2, 1]
    written = level3_associations(files)
    assert len(written) == 3
    for path, prod in zip(written, products, strict=True):
        assert path.name == f"{prod.name}_image3_asn.json"
        asn = _load(path)
        assert asn["asn_type"] == "image3"
        assert asn["products"][0]["name"] == prod.name
        for m in _members(asn):
            assert "/" not in m["expname"]
            assert (path.parent / m["expname"]).is_file()


def test_level3_product_name_template(tmp_path):
    files = make_programme(
        tmp_path, exposures=[{"EXPOSURE": 1, "FILTER": "F444W", "PUPIL": "F470N"}], suffix="cal"
    )
    (prod,) = level3_products(files, product_name="{target_name}_{opt_elem}")
    assert prod.name == "k52mass162355652823024_f444w-f470n"
    with pytest.raises(AssociationError, match="unknown field"):
        level3_products(files, product_name="{nope}")


def test_level3_multi_observation_gets_candidate_id(tmp_path):
    files = make_programme(
        tmp_path,
        exposures=[{"EXPOSURE": 1, "OBSERVTN": "001"}, {"EXPOSURE": 2, "OBSERVTN": "002"}],
        suffix="cal",
    )
    (prod,) = level3_products(files)
    assert prod.acid == "c1000"
    assert len(prod.members) == 2


def test_write_association_rejects_invalid(tmp_path):
    from jwst1f.associations import write_association

    with pytest.raises(AssociationError, match="rejects"):
        write_association({"products": [{"members": [{"expname": "x"}]}]}, tmp_path / "a.json")
    assert not (tmp_path / "a.json").exists()
    good = write_association(
        {"products": [{"name": "x", "members": [{"expname": "x", "exptype": "science"}]}]},
        tmp_path / "b_asn.json",
    )
    assert json.loads(good.read_text())["products"][0]["name"] == "x"
