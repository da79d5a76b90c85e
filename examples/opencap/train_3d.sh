#!/usr/bin/env bash
# Train the 3D torque policy for OpenCap's model family (issue 13) on OpenCap subject 4.
# Prepares per-foot GRF (plates assigned by centre of pressure) and OpenSim-style ID for each
# training trial, then trains with the measured-GRF reward, behaviour cloning from that ID,
# penalised residual motors on the pelvis's six coordinates (at most 5 % of body weight, in N
# or N.m; kintwin id reports them, as OpenSim ID reports its pelvis residuals),
# mirrored and speed-changed copies, a seat for sit-to-stand, failure-weighted sampling and a
# random body per episode (lengths x0.82-1.18, 45-115 kg; the policy observes its body), falls
# that include a pelvis turned 0.45 rad (26 deg) off the kinematics, half the episodes started at
# a trial's first row (where kintwin id starts), stance feet rewarded for staying where the
# kinematics put them, and policy.pt chosen by tracking on the subject and on its copies scaled
# by 0.9 and 1.1, and on the subject from 0.1 s into each trial. (The shipped policy is this
# script's run as it stands, stopped at 11.1 M steps and 2.24 CPU-hours after 89 minutes: one
# worker for the first 28, beside another run, then two.)
# walking4, walkingTS3 and squatsAsym1 are held out (benchmarks/opencap_split.json);
# TRIALS="walking1 ... squatsAsym1" sets subject 4's trials trained on (with their plates).
# Usage: examples/opencap/train_3d.sh OUTDIR [MINUTES] [more kintwin train options]
# Run it again on the same OUTDIR to resume the run there (e.g. with --set changes); the
# shipped run resumes with OUTDIR=policies/pretrained/laiuhlrich2022_torque (its .prep is ignored).
# WARM_START=POLICY_DIR starts a new run in OUTDIR from that policy's weights instead of
# behaviour cloning (a fine-tune, e.g. with a --set the resumed run cannot change, as kv_ratio).
# EXTRA_MOTIONS="A.mot B.mot" adds trials of other subjects or captures (LaiUhlrich2022
# coordinates), trained on without force plates; each is fitted to this body as kintwin id fits
# a trial (policies.root_fit), and a treadmill among them is detected (subject 4's are overground).
set -euo pipefail
OUT=${1:?policy output folder}
MINUTES=${2:-170}
S=${KINTWIN_SHARED_DATA:-../shared/data}/opencap-subject4
M=$S/Models/optimized_scale_and_markers.osim
P=$OUT.prep
mkdir -p "$P"
ARGS=()
RESUME=()
[ -f "$OUT/last.pt" ] && RESUME=(--resume)
WARM=()
[ ${#RESUME[@]} -eq 0 ] && [ -n "${WARM_START:-}" ] && WARM=(--warm-start "$WARM_START")
for t in ${TRIALS:-walking1 walking2 walkingTS1 walkingTS2 squats1 STS1 STSAsym1}; do
  if [ ! -f "$P/${t}_id.sto" ]; then
    kintwin convert grf "$S/ID/${t}_grf.mot" --model "$M" --coordinates "$S/IK/${t}_ik.mot" \
      -o "$P/$t" --force
    kintwin id --method classic --model "$M" --coordinates "$S/IK/${t}_ik.mot" \
      --external-loads "$P/${t}_grf.xml" --lowpass-hz 6 -o "$P/${t}_id.sto" --force
  fi
  ARGS+=(--motions "$S/IK/${t}_ik.mot" --grf-for "$S/IK/${t}_ik.mot=$P/${t}_grf.xml")
  [ ${#RESUME[@]} -eq 0 ] && [ ${#WARM[@]} -eq 0 ] && ARGS+=(--bc-id "$S/IK/${t}_ik.mot=$P/${t}_id.sto")
done
for f in ${EXTRA_MOTIONS:-}; do ARGS+=(--motions "$f"); done
nice kintwin train --model "$M" "${ARGS[@]}" --mirror --speeds 0.9,1.1 --seat \
  --set failure_weight=4 --set scale_lengths=0.82,1.18 --set scale_mass_kg=45,115 \
  --set max_root_angle=0.45 --set first_frame_share=0.5 --set w_stance_foot=0.2 \
  --set residual_root=true \
  --eval-bodies 0.9,1.1 --eval-later-starts 0.1 --eval-every 25 --critic-warmup 5 --envs 32 \
  --workers 2 --minutes "$MINUTES" \
  -o "$OUT" "${RESUME[@]}" "${WARM[@]}" "${@:3}"
