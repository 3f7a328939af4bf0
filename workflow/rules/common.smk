# Config validation, the table of input exposures, and the small get_* input functions.
#
# Everything here runs when Snakemake parses the workflow, before any job starts: a bad config or a
# missing/unreadable input file stops the run here with a message that names it.

import json
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

from jwst1f import pipeline as j1f_pipeline
from jwst1f.associations import stage2_for, stage3_for
from jwst1f.params import resolve_params

if not config:
    raise WorkflowError(
        "no configuration: run with --configfile config/config.yaml (your programme) or "
        "--configfile config/demo.yaml (the offline demo; see scripts/demo.sh)"
    )
validate(config, "../schemas/config.schema.yaml")

CRDS_RECORD = "results/crds_prefetch.json"


def _programme_stages(prog):
    stages = dict(config["stages"])
    stages.update(prog.get("stages") or {})
    return stages


def _load_programmes():
    table = {}
    for prog in config["programmes"]:
        pid = prog["id"]
        if pid in table:
            raise WorkflowError(
                f"config: programme id {pid!r} is used twice in 'programmes'"
            )
        stages = _programme_stages(prog)
        query = dict(prog)
        if not stages["detector1"]:
            query["start_from"] = "rate"
        try:
            exposures = j1f_pipeline.find_inputs(query)
        except j1f_pipeline.InputError as exc:
            raise WorkflowError(str(exc)) from None
        params = {}
        for exp in exposures:
            info = exp.info
            try:
                params[exp.name] = resolve_params(
                    config["destripe"],
                    instrument=info.instrument,
                    exp_type=info.exp_type,
                    detector=info.detector,
                    programme=prog.get("destripe") or None,
                ).to_dict()
            except ValueError as exc:
                raise WorkflowError(
                    f"config: destripe parameters for {exp.name} (programme {pid!r}): {exc}"
                ) from None
        table[pid] = {
            "config": prog,
            "stages": stages,
            "exposures": {e.name: e for e in exposures},
            "destripe_params": params,
        }
    return table


PROGRAMMES = _load_programmes()


wildcard_constraints:
    programme="[A-Za-z0-9][A-Za-z0-9_.-]*",
    exposure="[^/]+",
    product="[^/]+",
    ratedir="destripe|detector1",


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def canonical(obj):
    """The same data with dict keys sorted at every level.

    Snakemake compares params by their text, so a dict must print the same however the YAML
    file orders its keys: otherwise reordering the config would rerun jobs.
    """
    if isinstance(obj, dict):
        return {k: canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    return obj


CRDS_SETTINGS = canonical(config["crds"])
DESTRIPE_OUTPUT = canonical(config["destripe_output"])


def temp_if(path, key):
    """Mark an intermediate temporary when config['temporary'][key] is true."""
    return temp(path) if config["temporary"].get(key) else path


def stages(programme):
    return PROGRAMMES[programme]["stages"]


def exposure(wildcards):
    try:
        return PROGRAMMES[wildcards.programme]["exposures"][wildcards.exposure]
    except KeyError:
        raise WorkflowError(
            f"no input exposure {wildcards.exposure!r} in programme {wildcards.programme!r}"
        ) from None


def exposures(programme, role=None):
    """Input exposures of a programme (optionally only one role: science/background/imprint)."""
    exps = PROGRAMMES[programme]["exposures"].values()
    return [e for e in exps if role is None or e.role == role]


def rate_dir(programme):
    """Folder of the rate files that stage 2 reads (level-2 associations sit beside them)."""
    return "destripe" if stages(programme)["destripe"] else "detector1"


def stage2_rate(programme, name):
    return f"results/{programme}/{rate_dir(programme)}/{name}_rate.fits"


def stage2_of(programme, exp):
    """Stage-2 pipeline (image2 or spec2) of an exposure in this run, or None."""
    stage = stage2_for(exp.info.exp_type)
    if exp.role != "science" or stage is None:
        return None
    return stage if stages(programme)[stage] else None


def stage3_enabled(programme):
    """Stage-3 pipelines that run for this programme and have members."""
    out = set()
    for exp in exposures(programme, "science"):
        s2 = stage2_of(programme, exp)
        s3 = stage3_for(exp.info.exp_type)
        if s2 and s3 and stages(programme)[s3]:
            out.add(s3)
    return sorted(out)


def steps_for(programme, stage):
    """Top-level step overrides for a stage, with the programme's merged over them."""
    merged = {k: dict(v) for k, v in config["steps"].get(stage, {}).items()}
    prog_steps = PROGRAMMES[programme]["config"].get("steps", {}).get(stage, {})
    for step, pars in prog_steps.items():
        merged.setdefault(step, {}).update(pars)
    return canonical(merged)


def size_mb(paths):
    total = 0
    for p in paths:
        try:
            total += Path(p).stat().st_size
        except OSError:
            pass
    return total / 1e6


# ---------------------------------------------------------------------------------------------
# Input functions
# ---------------------------------------------------------------------------------------------


def get_detector1_input(wildcards):
    return str(exposure(wildcards).path)


def get_destripe_input(wildcards):
    exp = exposure(wildcards)
    if exp.kind == "uncal":
        return f"results/{wildcards.programme}/detector1/{exp.name}_rate.fits"
    return str(exp.path)


def get_destripe_params(wildcards):
    return canonical(
        PROGRAMMES[wildcards.programme]["destripe_params"][wildcards.exposure]
    )


def _matching(programme, science, role):
    """Background or imprint exposures matching a science exposure (detector + optics)."""
    return [
        e
        for e in exposures(programme, role)
        if e.info.detector == science.info.detector
        and e.info.optical_elements == science.info.optical_elements
    ]


def get_level2_input(wildcards):
    exp = exposure(wildcards)
    p = wildcards.programme
    return {
        "science": stage2_rate(p, exp.name),
        "background": [stage2_rate(p, e.name) for e in _matching(p, exp, "background")],
        "imprint": [stage2_rate(p, e.name) for e in _matching(p, exp, "imprint")],
    }


def level2_asn(programme, name):
    return f"results/{programme}/{rate_dir(programme)}/{name}_asn.json"


def get_stage2_input(wildcards):
    exp = exposure(wildcards)
    members = get_level2_input(wildcards)
    return {
        "asn": level2_asn(wildcards.programme, exp.name),
        "members": [members["science"], *members["background"], *members["imprint"]],
    }


def stage2_products(programme, stage=None):
    """The *_cal.fits files of a programme (of one stage-2 pipeline if given)."""
    out = []
    for exp in exposures(programme, "science"):
        s2 = stage2_of(programme, exp)
        if s2 and (stage is None or s2 == stage):
            out.append(f"results/{programme}/{s2}/{exp.name}_cal.fits")
    return out


def get_level3_manifest_input(wildcards):
    out = []
    for exp in exposures(wildcards.programme, "science"):
        s2 = stage2_of(wildcards.programme, exp)
        s3 = stage3_for(exp.info.exp_type)
        if s2 and s3 and stages(wildcards.programme)[s3]:
            out.append(f"results/{wildcards.programme}/{s2}/{exp.name}_cal.fits")
    return out


def level3_manifest(programme):
    """Products of the level-3 checkpoint (known once the stage-2 headers have been read)."""
    path = checkpoints.level3_manifest.get(programme=programme).output[0]
    with open(path) as fh:
        return json.load(fh)["products"]


def _level3_product(wildcards):
    for prod in level3_manifest(wildcards.programme):
        if prod["name"] == wildcards.product:
            return prod
    raise WorkflowError(
        f"no level-3 product {wildcards.product!r} in {wildcards.programme!r}"
    )


def get_level3_members(wildcards):
    return _level3_product(wildcards)["members"]


def level3_products(programme):
    """Final files of the level-3 products of a programme (after the checkpoint)."""
    out = []
    for prod in level3_manifest(programme):
        if prod["stage"] == "image3":
            out.append(f"results/{programme}/image3/{prod['name']}_i2d.fits")
            if stages(programme)["qa"]:
                out.append(f"results/{programme}/qa/{prod['name']}_i2d.png")
        else:
            out.append(f"results/{programme}/spec3/{prod['name']}_spec3.json")
    return out


def qa_outputs(programme):
    if not (stages(programme)["qa"] and stages(programme)["destripe"]):
        return []
    return [
        f"results/{programme}/qa/destripe_metrics.tsv",
        f"results/{programme}/qa/destripe_metrics.html",
    ]


def programme_products(programme):
    """Every final product of a programme: what the provenance record covers."""
    st = stages(programme)
    out = []
    for exp in exposures(programme):
        if st["destripe"]:
            out.append(f"results/{programme}/destripe/{exp.name}_rate.fits")
        elif st["detector1"] and exp.kind == "uncal":
            out.append(f"results/{programme}/detector1/{exp.name}_rate.fits")
    # Level-2 associations are written for every science exposure that has a stage-2 pipeline,
    # even when that pipeline is switched off (e.g. NIRSpec offline): ready for a later run.
    for exp in exposures(programme, "science"):
        if stage2_for(exp.info.exp_type):
            out.append(level2_asn(programme, exp.name))
    out += stage2_products(programme)
    out += qa_outputs(programme)
    if stage3_enabled(programme):
        out += level3_products(programme)
    return out


def uses_jwst(programme):
    """True when some jwst pipeline runs for the programme (and CRDS is needed)."""
    if any(e.kind == "uncal" for e in exposures(programme)):
        return True
    return any(stage2_of(programme, e) for e in exposures(programme, "science"))


def get_crds_record(wildcards):
    return [CRDS_RECORD] if uses_jwst(wildcards.programme) else []


def config_record():
    """The resolved config minus the per-programme parts (recorded per programme instead)."""
    return canonical(
        {k: v for k, v in config.items() if k not in ("programmes", "destripe")}
    )


def get_all_targets(wildcards):
    out = []
    for p in PROGRAMMES:
        out += qa_outputs(p)
        out.append(f"results/{p}/provenance.json")
    return out


def jwst_resources(factor, base_mb=1000, minutes=10, per_mb_minutes=0.1):
    """Resources scaled to the input size: mem_mb and runtime (minutes), doubled per retry."""

    def mem_mb(wildcards, input, attempt):
        return int((base_mb + factor * size_mb(input)) * attempt)

    def runtime(wildcards, input, attempt):
        return int((minutes + per_mb_minutes * size_mb(input)) * attempt)

    return {"mem_mb": mem_mb, "runtime": runtime}
