#!/usr/bin/env bash
# Rebuild the shipped real-CT detector (resources/models/ct_mp3d_small.safetensors) from a fresh checkout.
#
#   . .venv/bin/activate
#   tools/reproduce_default_model.sh [SHARED_DATA_DIR] [--device cpu|cuda] [--out FILE] [--dry-run]
#
# The shipped file is an output ensemble of three detectors (runs 63a, 63b and 63c of docs/training.md), and
# each of them is the last link of a chain of fine-tuning runs. This script replays that chain in order:
#
#   1. the data: tools/rebuild_real_ct_data.sh --training-only (the pyradiomics chest CTs, the two demo phantom
#      sets, data/real_mix5 and its parts), then the sets of runs 1-8 (data/real_mix, real_mix2, real_mix3), with
#      the seeds the docs record;
#   2. the demo phantom model (demo_small_phantom.toml), into runs/demo_small_phantom; run 1 is pointed at it
#      with --set model.init_from, so the shipped demo file is never read or written;
#   3. runs 1-6 and 8 (real_small_mixed, _jitter, _visible, _coarse, _hardneg, _ohem, _hosts), each started
#      from the model file the one before exported;
#   4. the three members: run 11 (real_small_phantoms), run 46 (real_small_phantoms_long) and run 50
#      (real_small_phantoms_long_seed8), all started from run 8, copied to runs/member11, member46 and member50,
#      where the run-58 configs look for them;
#   5. run 58 (real_small_continue*.toml, runs/real_small_continue_NN) and run 63 (real_small_key*.toml,
#      runs/real_small_key_NN), each exported with --test-time-flip;
#   6. the ensemble of the three run-63 members, written to --out (default runs/reproduced/ct_mp3d_small.safetensors).
#
# Options:
#   SHARED_DATA_DIR  the shared real CT (default ../shared/data, read from the repository root; a folder given
#                    here is read from the current folder)
#   --device D       cpu (default, the device of every recorded run) or cuda; every training command gets
#                    --set train.device=D
#   --out FILE       where the ensemble goes; a path under resources/ is refused, so the shipped files stay
#   --dry-run        print every command of the chain and run none of them
#
# Resuming: each step is skipped when its output is already there (a data set's DL_info.csv, a run folder's
# summary.json, a model file), so running the script again after a kill carries on where it stopped. A run
# folder that holds checkpoints/last.pt but no summary.json is continued with `lesionviewer-train train
# --resume`; a data folder without its DL_info.csv is an unfinished one and is deleted and written again.
# Nothing checks where an existing output came from, so start in a fresh checkout (or move old runs/ and data/
# aside): a runs/member11 written out of an older shipped file, say, would count as done and be used.
#
# How long: the wall times docs/training.md records on the project's 2-core CPU add up to 7 h 42 min of
# training (demo 18:47, run 1 50:10, run 2 74:41, run 3 20:12, run 4 26:14, run 5 26:10, run 6 20:12,
# run 8 25:19, run 11 21:53, run 46 45:31, run 50 53:02, run 58 12:46 + 12:59 + 12:57, run 63 13:49 +
# 14:03 + 13:21); the data come on top (the rebuild's part took 7 min 28 s in Run 64; the four draws of runs
# 1-6, made here one after another, were not timed as a set). On a GPU each step is far quicker: docs/benchmarks.md
# measured one training step of this recipe at 0.042 s on an H200 (synthetic stacks, so without data loading),
# so the chain's 53,300 steps come to about 37 minutes of steps there; validation, data loading and the data
# synthesis, which runs on the CPU either way, come on top.
#
# What will not match bit for bit: the synthesiser has changed since runs 1-6 drew their data. Since run 3 it
# keeps only lesions that stand out of their surroundings, and since run 8 it marks a real lesion that a
# sample's key slice crosses and keeps synthetic lesions 10 mm away from it; no command-line switch turns
# either off, so data/real_mix (runs 1-2) and data/real_mix2 (runs 3-6) come out different from the recorded
# ones. The node placement of run 37 is switched off (--mediastinal-fat-share 0) as for every set drawn before
# it. data/real_mix5 is checked against its recorded 4,272 rows, as tools/rebuild_real_ct_data.sh checks it.
# On a GPU the configs' train.amp = true trains in float16, where the recorded runs trained in float32. Expect
# a detector of the same recipe, not the same bytes; compare it with the shipped one through evaluate-real.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S=../shared/data
DEVICE=cpu
OUT=runs/reproduced/ct_mp3d_small.safetensors
DRY=0
positional=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) [ $# -ge 2 ] || { echo "reproduce: --device needs a value" >&2; exit 2; }; DEVICE=$2; shift 2 ;;
    --device=*) DEVICE=${1#--device=}; shift ;;
    --out) [ $# -ge 2 ] || { echo "reproduce: --out needs a file" >&2; exit 2; }; OUT=$(realpath -m -- "$2"); shift 2 ;;
    --out=*) OUT=$(realpath -m -- "${1#--out=}"); shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "reproduce: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [ "$positional" = 0 ] || { echo "reproduce: one shared data folder only (got another: $1)" >&2; exit 2; }
      S=$(realpath -m -- "$1"); positional=1; shift ;;
  esac
done
case "$DEVICE" in
  cpu|cuda) ;;
  *) echo "reproduce: --device is cpu or cuda (got $DEVICE)" >&2; exit 2 ;;
esac
cd "$ROOT"
case "$(realpath -m -- "$OUT")/" in
  "$(realpath -m -- resources)"/*)
    echo "reproduce: --out $OUT is under resources/; the shipped files are never written here" >&2; exit 2 ;;
esac
if [ "$DRY" = 0 ]; then
  for tool in lesionviewer-train lesionviewer-phantom; do
    command -v "$tool" > /dev/null || { echo "reproduce: $tool not found (activate .venv first)" >&2; exit 2; }
  done
fi

# --- helpers --------------------------------------------------------------------------------------------------
# quote ARGS: one line a shell reads back as ARGS (plain words stay bare, others go in single quotes)
quote() {
  local a line=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./,=:+@%-]+$ ]]; then line+=("$a"); else line+=("'${a//\'/\'\\\'\'}'"); fi
  done
  printf '%s\n' "${line[*]}"
}
note() { echo "# $*"; }
# run CMD...: print it; run it unless --dry-run
run() {
  if [ "$DRY" = 1 ]; then quote "$@"; else echo "+ $(quote "$@")"; "$@"; fi
}
skip() { local why=$1; shift; echo "# skipped, $why is there: $(quote "$@")"; }

shared_checked=0
need_shared() {
  [ "$DRY" = 0 ] && [ "$shared_checked" = 0 ] || return 0
  for need in "$S/ct_abdomen_totalseg" "$S/ct_abdomen_totalseg_organs/organs.nii.gz" "$S/lidc_idri_0002/071.xml" \
              "$S/ct_compressed_singles"; do
    [ -e "$need" ] || { echo "reproduce: $need is missing (give the shared data folder as the argument)" >&2; exit 2; }
  done
  shared_checked=1
}

# data_set DIR CMD...: CMD writes the DeepLesion-layout set DIR, whose DL_info.csv it writes last
data_set() {
  local dir=$1; shift
  if [ -f "$dir/DL_info.csv" ]; then skip "$dir/DL_info.csv" "$@"; return; fi
  case " $* " in *" --host "*) need_shared ;; esac
  if [ -e "$dir" ]; then run rm -rf -- "$dir"; fi  # an unfinished set: merging into it would skip half-linked series
  run "$@"
}

# train RUN_DIR CONFIG [--set KEY=VALUE ...]: train a run, continue an interrupted one, or skip a finished one
train() {
  local dir=$1 config=$2; shift 2
  if [ -f "$dir/summary.json" ]; then
    skip "$dir/summary.json" lesionviewer-train train --config "$config" --run-dir "$dir" "$@" --set "train.device=$DEVICE"
  elif [ -f "$dir/checkpoints/last.pt" ]; then
    run lesionviewer-train train --resume "$dir" --set "train.device=$DEVICE"
  else
    run lesionviewer-train train --config "$config" --run-dir "$dir" "$@" --set "train.device=$DEVICE"
  fi
}

# export_model RUN_DIR FILE [export options]
export_model() {
  local dir=$1 file=$2; shift 2
  if [ -f "$file" ]; then skip "$file" lesionviewer-train export --run-dir "$dir" --out "$file" "$@"; return; fi
  run lesionviewer-train export --run-dir "$dir" --out "$file" "$@"
}

# copy_model SRC DST: a copy under the name a later config reads (through a temporary name: a kill leaves none)
copy_model() {
  local src=$1 dst=$2
  if [ -f "$dst" ]; then skip "$dst" cp "$src" "$dst"; return; fi
  run mkdir -p "$(dirname "$dst")"
  run cp "$src" "$dst.partial"
  run mv "$dst.partial" "$dst"
}

# --- 1. data --------------------------------------------------------------------------------------------------
note "reproducing resources/models/ct_mp3d_small.safetensors into $OUT (device $DEVICE, shared data $S)"
note "data: the training set of runs 11 onwards and its parts (tools/rebuild_real_ct_data.sh --training-only: the"
note "pyradiomics hosts, data/phantoms_demo, phantoms_b, synth_e, synth_f, real_mix5, checked against its 4,272 rows)"
REBUILT=(data/phantoms_demo data/phantoms_b data/synth_e data/synth_f data/real_mix5)
if [ -f data/real_mix5/DL_info.csv ]; then
  skip data/real_mix5/DL_info.csv tools/rebuild_real_ct_data.sh --training-only "$S"
else
  need_shared
  for dir in "${REBUILT[@]}"; do  # a killed rebuild leaves parts that its commands would not write over
    if [ -e "$dir" ]; then run rm -rf -- "$dir"; fi
  done
  run tools/rebuild_real_ct_data.sh --training-only "$S"
fi

# Run 1's five real hosts (run 8 added the two pyradiomics chests after them: the rebuild's synth_e and synth_f).
HOSTS5=(--host "path=$S/ct_abdomen_totalseg,labels=$S/ct_abdomen_totalseg_organs/organs.nii.gz,weight=3"
        --host "path=$S/lidc_idri_0002,weight=3,lidc=$S/lidc_idri_0002/071.xml"
        --host "path=$S/ct_compressed_singles/D_CLUNIE_CT1_RLE_FRAGS.dcm,weight=0.3"
        --host "path=$S/ct_compressed_singles/IM-0001-0001-0001.dcm,weight=0.3"
        --host "path=$S/ct_compressed_singles/693_UNCR.dcm,weight=0.3")
note "data: runs 1-2 read data/real_mix (draws a, b), runs 3-6 data/real_mix2 (draws c, d); every set here was"
note "drawn before Run 37 moved the lymph nodes into the fat (--mediastinal-fat-share 0)"
for draw in "a 1 500000" "b 2 600000" "c 3 700000" "d 4 800000"; do
  read -r name seed first <<< "$draw"
  data_set "data/synth_$name" lesionviewer-train synthesize "${HOSTS5[@]}" --out "data/synth_$name" --samples 550 \
    --seed "$seed" --first-patient "$first" --mediastinal-fat-share 0
done
data_set data/real_mix lesionviewer-train synthesize --out data/real_mix --samples 0 --merge data/synth_a \
  --merge data/synth_b --merge data/phantoms_demo
data_set data/real_mix2 lesionviewer-train synthesize --out data/real_mix2 --samples 0 --merge data/synth_c \
  --merge data/synth_d --merge data/phantoms_demo
note "data: run 8 read data/real_mix3 = the rebuild's synth_e and synth_f with the first phantom set"
data_set data/real_mix3 lesionviewer-train synthesize --out data/real_mix3 --samples 0 --merge data/synth_e \
  --merge data/synth_f --merge data/phantoms_demo

# --- 2. the demo model, runs 1-6 and 8 ------------------------------------------------------------------------
C=resources/configs
note "demo model (docs: The demo model on phantoms; 18 min 47 s on the CPU)"
train runs/demo_small_phantom $C/demo_small_phantom.toml
export_model runs/demo_small_phantom runs/demo_small_phantom/model.safetensors
note "run 1 (50 min 10 s): the config starts from the shipped demo file; here from the one just trained"
train runs/real_small_mixed $C/real_small_mixed.toml --set model.init_from=runs/demo_small_phantom/model.safetensors
export_model runs/real_small_mixed runs/real_small_mixed/model.safetensors
note "run 2 (74 min 41 s)"
train runs/real_small_jitter $C/real_small_jitter.toml
export_model runs/real_small_jitter runs/real_small_jitter/model.safetensors
note "run 3 (20 min 12 s)"
train runs/real_small_visible $C/real_small_visible.toml
export_model runs/real_small_visible runs/real_small_visible/model.safetensors
note "run 4 (26 min 14 s): its config names resources/models/ct_mp3d_small.safetensors, which held run 3 then"
train runs/real_small_coarse $C/real_small_coarse.toml --set model.init_from=runs/real_small_visible/model.safetensors
export_model runs/real_small_coarse runs/real_small_coarse/model.safetensors
note "run 5 (26 min 10 s)"
train runs/real_small_hardneg $C/real_small_hardneg.toml
export_model runs/real_small_hardneg runs/real_small_hardneg/model.safetensors
note "run 6 (20 min 12 s)"
train runs/real_small_ohem $C/real_small_ohem.toml
export_model runs/real_small_ohem runs/real_small_ohem/model.safetensors
note "run 8 (25 min 19 s; Run 28 took these weights from a git commit instead of training them)"
train runs/real_small_hosts $C/real_small_hosts.toml
export_model runs/real_small_hosts runs/real_small_hosts/model.safetensors --test-time-flip

# --- 3. the three members: runs 11, 46 and 50, each from run 8 --------------------------------------------------
note "run 11 (21 min 53 s)"
train runs/real_small_phantoms $C/real_small_phantoms.toml
export_model runs/real_small_phantoms runs/real_small_phantoms/model.safetensors --test-time-flip
note "run 46 (45 min 31 s)"
train runs/real_small_phantoms_long $C/real_small_phantoms_long.toml
export_model runs/real_small_phantoms_long runs/real_small_phantoms_long/model.safetensors --test-time-flip
note "run 50 (53 min 2 s)"
train runs/real_small_phantoms_long_seed8 $C/real_small_phantoms_long_seed8.toml
export_model runs/real_small_phantoms_long_seed8 runs/real_small_phantoms_long_seed8/model.safetensors --test-time-flip
note "the members where the run-58 configs read them (the docs wrote them out of the run-50 ensemble file)"
copy_model runs/real_small_phantoms/model.safetensors runs/member11/model.safetensors
copy_model runs/real_small_phantoms_long/model.safetensors runs/member46/model.safetensors
copy_model runs/real_small_phantoms_long_seed8/model.safetensors runs/member50/model.safetensors

# --- 4. runs 58 and 63 --------------------------------------------------------------------------------------------
note "run 58 (12 min 46 s, 12 min 59 s, 12 min 57 s): 1,600 steps at lr 0.001, crops anywhere"
train runs/real_small_continue_11 $C/real_small_continue.toml
train runs/real_small_continue_46 $C/real_small_continue_46.toml
train runs/real_small_continue_50 $C/real_small_continue_50.toml
for m in 11 46 50; do
  export_model runs/real_small_continue_$m runs/real_small_continue_$m/model.safetensors --test-time-flip
done
note "run 63 (13 min 49 s, 14 min 3 s, 13 min 21 s): 1,600 more from run 58, 80 % of stacks read key slice alone"
train runs/real_small_key_11 $C/real_small_key.toml
train runs/real_small_key_46 $C/real_small_key_46.toml
train runs/real_small_key_50 $C/real_small_key_50.toml
for m in 11 46 50; do
  export_model runs/real_small_key_$m runs/real_small_key_$m/model.safetensors --test-time-flip
done

# --- 5. the ensemble -----------------------------------------------------------------------------------------------
note "the shipped file: the three run-63 members as one ensemble, in the order 11, 46, 50"
ENSEMBLE=(lesionviewer-train ensemble --model runs/real_small_key_11/model.safetensors
          --model runs/real_small_key_46/model.safetensors --model runs/real_small_key_50/model.safetensors
          --out "$OUT" --name ct-mp3d-small-synthetic-lesions-ensemble
          --description "An output ensemble of three mp3d_small detectors (runs 63a, 63b and 63c of docs/training.md), rebuilt by tools/reproduce_default_model.sh; a demonstration, not for clinical use."
          --data "config=real_small_key + real_small_key_46 + real_small_key_50")
if [ -f "$OUT" ]; then
  skip "$OUT" "${ENSEMBLE[@]}"
else
  run mkdir -p "$(dirname "$OUT")"
  run "${ENSEMBLE[@]}"
fi
