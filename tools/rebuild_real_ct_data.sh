#!/usr/bin/env bash
# Rebuild the real-CT detector's training set (data/real_mix5) and its selection set (data/select_dl) from
# scratch: the two phantom sets, the pyradiomics hosts, and synthetic lesions drawn into the real hosts with
# the recorded seeds. data/, hosts/ and runs/ are not in the repository; a new checkout needs this before any
# run that continues the shipped members (docs/training.md, Runs 1, 8, 11, 34 and 54).
#
#   . .venv/bin/activate && tools/rebuild_real_ct_data.sh [--training-only] [SHARED_DATA_DIR]   # about 15 min on 2 cores
#
# --training-only stops after data/real_mix5 (the training set; Run 28 timed that part at 9 min 42 s, Run 64 at 7 min 28 s) and skips the
# selection set.
#
# Every set drawn before Run 37 is drawn with --mediastinal-fat-share 0 (the old node placement). The script
# checks the row counts the runs recorded (real_mix5: 4,272 rows; select_dl: 883 lesions) and stops if the
# rebuilt sets differ.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINING_ONLY=0
if [ "${1:-}" = "--training-only" ]; then TRAINING_ONLY=1; shift; fi
S=${1:-../shared/data}
for need in "$S/ct_abdomen_totalseg" "$S/lidc_idri_0002/071.xml" "$S/ct_compressed_singles"; do
  [ -e "$need" ] || { echo "rebuild: $need is missing (give the shared data folder as the argument)" >&2; exit 2; }
done
mkdir -p hosts data
if [ ! -f hosts/lung2_label.nrrd ]; then
  pip download -q --no-deps --no-binary :all: --no-build-isolation pyradiomics==3.0.1 -d /tmp/pyradiomics-sdist
  tar xzf /tmp/pyradiomics-sdist/pyradiomics-3.0.1.tar.gz -C hosts --strip-components 2 \
    pyradiomics-3.0.1/data/lung1_image.nrrd pyradiomics-3.0.1/data/lung1_label.nrrd \
    pyradiomics-3.0.1/data/lung2_image.nrrd pyradiomics-3.0.1/data/lung2_label.nrrd
fi
ABDOMEN="--host path=$S/ct_abdomen_totalseg,labels=$S/ct_abdomen_totalseg_organs/organs.nii.gz,weight=3"
SINGLES="--host path=$S/ct_compressed_singles/D_CLUNIE_CT1_RLE_FRAGS.dcm,weight=0.3
  --host path=$S/ct_compressed_singles/IM-0001-0001-0001.dcm,weight=0.3
  --host path=$S/ct_compressed_singles/693_UNCR.dcm,weight=0.3"
# run 8's seven hosts, in run 8's order (the order is part of the draw)
HOSTS="$ABDOMEN --host path=$S/lidc_idri_0002,weight=3,lidc=$S/lidc_idri_0002/071.xml $SINGLES
  --host path=hosts/lung1_image.nrrd,weight=2,lesions=hosts/lung1_label.nrrd,lesion_type=5
  --host path=hosts/lung2_image.nrrd,weight=2,lesions=hosts/lung2_label.nrrd,lesion_type=5"
# run 32's: the same with livers estimated on the three hosts without organ labels (the selection sets)
HOSTS_LIVER="$ABDOMEN --host path=$S/lidc_idri_0002,weight=3,lidc=$S/lidc_idri_0002/071.xml,labels=estimate $SINGLES
  --host path=hosts/lung1_image.nrrd,weight=2,lesions=hosts/lung1_label.nrrd,lesion_type=5,labels=estimate
  --host path=hosts/lung2_image.nrrd,weight=2,lesions=hosts/lung2_label.nrrd,lesion_type=5,labels=estimate"
OLD="--mediastinal-fat-share 0"

lesionviewer-phantom data/phantoms_demo -n 400 --size small --seed 0 -j 1 --annotate-all --box-padding 2 --lesion-contrast 8 &
lesionviewer-phantom data/phantoms_b -n 400 --size small --seed 1 --first-patient 401 -j 1 --annotate-all --box-padding 2 \
  --lesion-contrast 8 --only-split train
wait
# shellcheck disable=SC2086
lesionviewer-train synthesize $HOSTS --out data/synth_e --samples 700 --seed 5 --first-patient 900000 $OLD &
# shellcheck disable=SC2086
lesionviewer-train synthesize $HOSTS --out data/synth_f --samples 700 --seed 6 --first-patient 1000000 $OLD
wait
lesionviewer-train synthesize --out data/real_mix5 --samples 0 --merge data/synth_e --merge data/synth_f \
  --merge data/phantoms_demo --merge data/phantoms_b
rows=$(($(wc -l < data/real_mix5/DL_info.csv) - 1))
echo "data/real_mix5: $rows rows (recorded 4272)"
[ "$rows" = 4272 ] || { echo "rebuild: data/real_mix5 differs from the recorded set" >&2; exit 1; }
[ "$TRAINING_ONLY" = 0 ] || exit 0
# shellcheck disable=SC2086
lesionviewer-train synthesize $HOSTS_LIVER --type-mix deeplesion --val-fraction 1 --out data/select_a --samples 250 --seed 13 \
  --first-patient 1900000 $OLD &
# shellcheck disable=SC2086
lesionviewer-train synthesize $HOSTS_LIVER --type-mix deeplesion --val-fraction 1 --out data/select_b --samples 250 --seed 14 \
  --first-patient 2000000 $OLD
wait
lesionviewer-train synthesize --out data/select_dl --samples 0 --merge data/select_a --merge data/select_b --merge-splits val

lesions=$(($(wc -l < data/select_dl/DL_info.csv) - 1))
echo "data/select_dl: $lesions lesions (recorded 883)"
[ "$lesions" = 883 ] || { echo "rebuild: data/select_dl differs from the recorded set" >&2; exit 1; }
