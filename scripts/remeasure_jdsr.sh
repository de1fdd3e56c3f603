#!/usr/bin/env bash
# After shipping new JDSR weights: re-measure every figure the docs quote for them.
#
#   scripts/remeasure_jdsr.sh DATA IMG OLD_ZOO
#
# DATA     the Tables' data set:
#          w2s simulate DATA --fovs 11 --size 256 --frames 400 --channels 3 --seed 2026 --processed
# IMG      the real nuclei image: stardist/data/images/img2d.tif from the stardist 0.9.2 wheel
# OLD_ZOO  the 0.1.0 weights: git archive d46e8f0^ src/napari_w2s/models/zoo | tar -x
#          (then OLD_ZOO=src/napari_w2s/models/zoo of that archive)
#
# Two jobs at a time, one thread each (about 25 min on the 2-core build machine): Tables 1-3 on
# one core; on the other the generalisation benchmark (its specialist CARE rows taken from the
# committed report: same views, same specialist weights), the validation draw (seed 778, what
# weights are chosen on), the confirmation draw (seed 779, 32 views per set, never used to
# choose), the advisor
# curves, the reliability calibration and the trust figure with its region table. Writes into
# docs/ and the shipped card; logs in remeasure-logs/. What is left by hand: the screenshots
# (QT_API=pyqt6 xvfb-run -a python docs/scripts/screenshots.py), `w2s demo`'s figures, the zoo
# table (python scripts/ship_weights.py), the docs' prose, and the low-SNR note's threshold
# (LOW_SNR_JDSR in src/napari_w2s/restore/steps.py) against the reports' tables by input SNR.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?the Tables data set (see the header)}
IMG=${2:?the real nuclei image}
OLD=${3:?the 0.1.0 zoo folder}
LOGS=remeasure-logs
mkdir -p "$LOGS"
export OMP_NUM_THREADS=1

w2s benchmark --data "$DATA" --out docs/benchmark --views 12 --device cpu >"$LOGS/tables.log" 2>&1 &
tables=$!

G=docs/benchmark/generalisation
cp "$G/generalisation.json" "$LOGS/generalisation-before.json"
python benchmarks/bench_generalisation.py --out "$G" --views 8 --size 128 --threads 1 \
    --real "$IMG" --compare "$OLD" --specialists-from "$LOGS/generalisation-before.json" \
    >"$LOGS/generalisation.log" 2>&1
python benchmarks/bench_generalisation.py --seed 778 --quick --out "$G/validation" \
    --methods jdsr,ridnet+rcan,dncnn+rcan,bicubic --sets camera,optics,nuclei,low-light \
    --threads 1 >"$LOGS/validation.log" 2>&1
python benchmarks/bench_generalisation.py --seed 779 --views 32 --quick --out "$G/confirmation" \
    --methods jdsr,ridnet+rcan,dncnn+rcan,bicubic --sets camera,optics,nuclei,low-light \
    --threads 1 >"$LOGS/confirmation.log" 2>&1
python scripts/measure_jdsr_curves.py --threads 1 --write >"$LOGS/curves.log" 2>&1
python scripts/calibrate_reliability.py --method jdsr --views 16 --size 96 --test "$DATA" \
    --test-views 6 --threads 1 --write >"$LOGS/calibration.log" 2>&1
python docs/scripts/trust_figure.py --real "$IMG" >"$LOGS/trust.log" 2>&1
wait "$tables"
tail -n 3 "$LOGS"/*.log
