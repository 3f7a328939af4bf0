#!/usr/bin/env bash
# make demo: simulate two small JWST programmes, reduce them offline with the Snakemake workflow
# (Detector1 -> 1/f destriping -> associations -> Image2 -> Image3 mosaic), and write the report.
#
#   bash scripts/demo.sh                        # CORES=2 by default
#   CORES=4 bash scripts/demo.sh
#   bash scripts/demo.sh --profile profiles/slurm   # extra arguments go to snakemake
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CORES="${CORES:-2}"
CONFIG="config/demo.yaml"
REPORT="results/report.html"

# Offline: no CRDS server; the workflow builds a synthetic CRDS cache in resources/crds_cache.
unset CRDS_SERVER_URL
export STPIPE_DISABLE_CRDS_STEPPARS=true

start=$(date +%s)
echo "==> 1/3  simulating the demo programmes into resources/demo/ (kept if already there)"
python scripts/demo_simulate.py --outdir resources/demo

echo "==> 2/3  snakemake --cores ${CORES} --configfile ${CONFIG} $*"
snakemake --cores "${CORES}" --configfile "${CONFIG}" "$@"

echo "==> 3/3  writing the report"
snakemake --configfile "${CONFIG}" --report "${REPORT}" "$@" >/dev/null 2>&1 ||
    snakemake --configfile "${CONFIG}" --report "${REPORT}" "$@"

elapsed=$(($(date +%s) - start))
echo
echo "Demo finished in ${elapsed} s."
echo "  NIRCam mosaic:      $(ls results/demo-nircam/image3/*_i2d.fits 2>/dev/null | tr '\n' ' ')"
echo "  NIRCam cal files:   results/demo-nircam/image2/"
echo "  NIRSpec destriped:  results/demo-nirspec/destripe/ (Spec2/Spec3 need the real CRDS: docs/workflow.md)"
echo "  QA figures:         results/<programme>/qa/"
echo "  provenance:         results/demo-nircam/provenance.json, results/demo-nirspec/provenance.json"
echo "  report:             ${REPORT}"
