#!/bin/sh
# Compile the floor and the trials with mypyc into /tmp/floor-mypyc/{floor,trials}, in a
# throwaway virtual environment (the project's install needs no compiler):
#   python3 -m venv /tmp/mypyc-venv
#   /tmp/mypyc-venv/bin/pip install mypy uvloop httptools setuptools
#   sh benchmarks/floor_trials/build.sh [/tmp/mypyc-venv]
set -e
venv=${1:-/tmp/mypyc-venv}
here=$(cd "$(dirname "$0")" && pwd)
for name in floor trials; do
    out=/tmp/floor-mypyc/$name
    rm -rf "$out" && mkdir -p "$out"
    if [ $name = floor ]; then cp "$here/../floor.py" "$out/"; else cp "$here/trials.py" "$out/"; fi
    (cd "$out" && "$venv/bin/mypyc" $name.py >build.log 2>&1) || { cat "$out/build.log"; exit 1; }
    rm "$out/$name.py"  # only the compiled module is left to import
    ls "$out"/*.so
done
