#!/usr/bin/env bash
# Placeholder until the workflow lands: simulate a small programme.
set -euo pipefail
echo "demo: workflow not yet wired"
