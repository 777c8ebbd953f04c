#!/usr/bin/env bash
# AutoGluon-Tabular for bench/quality.py, in a venv of its own: autogluon.tabular 1.6.3 needs
# pandas<2.4 and would downgrade the project's pandas 3 in .venv/. torch stays exactly 2.13.0 (the
# CPU wheel; AutoGluon's neural-network model uses it) and xgboost comes as xgboost-cpu, so nothing
# from CUDA is installed; the check at the end fails the script if that ever changes.
#   bash bench/setup_autogluon.sh [VENV]      # default bench-results/venv-autogluon (where
#                                             # bench/quality.py looks for it)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-bench-results/venv-autogluon}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  torch==2.13.0 "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" xgboost-cpu==2.1.4
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m

import torch

cuda = sorted(d.metadata["Name"] for d in m.distributions() if d.metadata["Name"].lower().startswith("nvidia"))
assert torch.__version__.startswith("2.13.0"), f"torch {torch.__version__}, expected 2.13.0"
assert torch.version.cuda is None and not cuda, f"CUDA pulled in: {torch.version.cuda} {cuda}"
print(f"autogluon.tabular {m.version('autogluon.tabular')}, torch {torch.__version__} (CPU), no CUDA packages")
PY
echo "AutoGluon ready: .venv/bin/python bench/quality.py --autogluon-python $VENV/bin/python"
