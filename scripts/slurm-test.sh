#!/usr/bin/env bash
# A real single-node Slurm runs a 2 × 2 grid of a tiny study (issue 17; recipe and pitfalls:
# docs/scaling.md). Steps:
#   1. install slurm-wlm + munge (apt) and start munged, slurmctld and slurmd in the background;
#   2. plan a 2 × 2 grid (finetune.lr × finetune.seed) of a toy tagging study on the tiny random
#      BERT fixture with a shared study.cache and emit the job-array script;
#   3. submit cell 0 first (it fills the cache), the rest after it (--dependency=afterok, array
#      throttled to 2 at a time with %2), and scancel one array task mid-run;
#   4. resubmit the cancelled task and, after it (afterok), a job that collects the grid
#      (`tunescope plan … --collect`); check every cell finished and the resumed one did not
#      redo its finished stages;
#   5. run every cell locally with `tunescope study` and check the result files are
#      byte-identical (timings and run-directory paths aside) to the Slurm cells'.
# Needs root (writes /etc/slurm, /etc/munge, runs slurmd); skips with a message otherwise.
# Env: TUNESCOPE_BIN (default $CARGO_TARGET_DIR or target/, release/tunescope, built if missing), SLURM_TEST_DIR
# (work directory, default a fresh one under /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
t_start=$(date +%s)
say() { printf '[slurm-test %3ss] %s\n' "$(($(date +%s) - t_start))" "$*"; }
die() {
  say "FAIL: $*"
  [ -s /var/log/slurm/jobcomp.log ] && { echo "jobcomp.log:"; cut -d' ' -f1,4,5,20- /var/log/slurm/jobcomp.log; }
  exit 1
}

if [ "$(id -u)" != 0 ]; then
  echo "slurm-test: SKIPPED: needs root (installs slurm-wlm and munge, writes /etc/slurm and /etc/munge, runs slurmd)"
  exit 0
fi
if [ -s /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null; then
  echo "slurm-test: SKIPPED: a slurmctld is already running here (pid $(cat /run/slurmctld.pid)); not touching it"
  exit 0
fi

BIN=${TUNESCOPE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/tunescope}
if [ ! -x "$BIN" ]; then
  say "building $BIN"
  cargo build --release -p tunescope
fi
WORK=${SLURM_TEST_DIR:-$(mktemp -d /tmp/tunescope-slurm.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
say "work directory $WORK"

# --- 1. install and start Slurm --------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurmctld slurmd slurm-client munge (apt)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi
say "$(dpkg-query -W -f='slurm ${Version}' slurmctld)"

STARTED_MUNGE=
cleanup() {
  set +e
  if [ -s /run/slurmctld.pid ]; then
    local ctl sd
    ctl=$(cat /run/slurmctld.pid 2>/dev/null); sd=$(cat /run/slurmd.pid 2>/dev/null)
    scontrol shutdown >/dev/null 2>&1
    for _ in $(seq 60); do
      { [ -n "$ctl" ] && kill -0 "$ctl" 2>/dev/null; } || { [ -n "$sd" ] && kill -0 "$sd" 2>/dev/null; } || break
      sleep 0.25
    done
  fi
  if [ -n "$STARTED_MUNGE" ] && [ -s /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null
  fi
}
trap cleanup EXIT

H=$(hostname -s)
NODE_LINE=$(slurmd -C | head -1)
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  STARTED_MUNGE=1
  for _ in $(seq 50); do munge -n | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge | grep -q 'STATUS: *Success' || die "munge does not work"

install -d /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*
: > /var/log/slurm/jobcomp.log
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=tunescope-ci
SlurmctldHost=${H}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
SchedulerType=sched/backfill
SchedulerParameters=kill_invalid_depend
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=3600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
${NODE_LINE} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld
slurmd
for _ in $(seq 120); do
  [ "$(sinfo -h -n "$H" -o %T 2>/dev/null)" = idle ] && break
  sleep 0.5
done
if [ "$(sinfo -h -n "$H" -o %T 2>/dev/null)" != idle ]; then
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log 2>/dev/null
  die "node $H is not idle: $(sinfo -h -n "$H" -o '%T %E' 2>&1) (on a pure cgroup-v2 host without systemd, Slurm 22.05's slurmd cannot start: docs/scaling.md)"
fi
say "slurm up: $(sinfo -h -o '%P %D %T %c CPUs')"

# --- 2. a tiny study and its grid --------------------------------------------------------------
MODEL=$REPO/crates/model/tests/fixtures/tiny-bert/model
python3 - "$WORK" <<'PY'
import sys
# A deterministic toy POS task over words of the tiny model's vocabulary (as crates/cli/tests/study.rs).
d = sys.argv[1]
lex = [("DET", ["the", "a", "an"]), ("ADJ", ["quick", "brown", "lazy"]),
       ("NOUN", ["fox", "dog", "dogs", "cat", "mat"]), ("VERB", ["jump", "jumps", "sat", "run", "was"]),
       ("ADP", ["over", "on"])]
patterns = [[0, 1, 2, 3, 4, 0, 2], [0, 2, 3], [0, 1, 1, 2, 3, 4, 0, 2]]
state = 7
def nxt(n):
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
    return (state >> 33) % n
import json
for name, n in [("train", 60), ("dev", 20), ("test", 20)]:
    with open(f"{d}/{name}.jsonl", "w") as f:
        for _ in range(n):
            p = patterns[nxt(len(patterns))]
            words, tags = [], []
            for i in p:
                tag, ws = lex[i]
                words.append(ws[nxt(len(ws))]); tags.append(tag)
            f.write(json.dumps({"tokens": words, "tags": tags}) + "\n")
PY
cat > "$WORK/tiny.toml" <<TOML
[study]
name = "tiny"

[data]
format = "jsonl"
task = "tagging"
train = "$WORK/train.jsonl"
dev = "$WORK/dev.jsonl"
test = "$WORK/test.jsonl"

[model]
path = "$MODEL"
layers = [1, 3]
max_subwords = 20
batch_size = 16

[finetune]
epochs = 3
batch_size = 8

[probe]
grid = [8]
seeds = 2
epochs = 5

[directprobe]
min_cluster_size = 1

[compare]
rsa_sample = 20
TOML

GRID=(--vary finetune.lr=1e-3,3e-4 --vary finetune.seed=1,2)
"$BIN" plan "$WORK/tiny.toml" "${GRID[@]}" --root "$WORK/grid" --emit slurm \
  --cpus 1 --gpus 0 --mem 500M --time 00:10:00 --max-parallel 2 --binary "$BIN" \
  --job-name tiny-grid > "$WORK/grid.sbatch"
"$BIN" plan "$WORK/tiny.toml" "${GRID[@]}" --root "$WORK/grid" --emit list > "$WORK/cells.tsv" 2>/dev/null
N=$(wc -l < "$WORK/cells.tsv")
[ "$N" = 4 ] || die "expected 4 cells, planned $N"
grep -q '^#SBATCH --array=0-3%2$' "$WORK/grid.sbatch" || die "array line: $(grep array "$WORK/grid.sbatch")"
say "planned $N cells:"; cut -f1 "$WORK/cells.tsv" | sed 's/^/    /'

# --- 3. submit: cell 0 fills the shared cache, cells 1-3 after it (2 at a time) ---------------
wait_jobs() {  # wait until none of the given job ids is queued or running (timeout 600 s)
  local t0=$SECONDS
  while squeue -h -j "$1" 2>/dev/null | grep -q .; do
    [ $((SECONDS - t0)) -lt 600 ] || die "jobs $1 still queued after 600 s: $(squeue -h -j "$1")"
    sleep 0.5
  done
}
state_of() {  # final state of job (or array task) "$1" from the jobcomp log
  local id=${1%_*} task=
  [[ $1 == *_* ]] && task=${1#*_}
  if [ -n "$task" ]; then
    grep "ArrayJobId=$id " /var/log/slurm/jobcomp.log | grep "ArrayTaskId=$task " | tail -1 | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
  else
    grep -E "^JobId=$id " /var/log/slurm/jobcomp.log | tail -1 | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
  fi
}
A=$(sbatch --parsable --array=0 "$WORK/grid.sbatch")
B=$(sbatch --parsable --array=1-3%2 --dependency=afterok:"$A" --kill-on-invalid-dep=yes "$WORK/grid.sbatch")
say "submitted cell 0 as job $A, cells 1-3 as job $B (afterok:$A, %2)"
squeue -h -o '    %i %T %r' -j "$A,$B" || true

# Cancel cell 1 while its study runs: once fine-tuning is under way (a stage `running` in its
# manifest), scancel that one array task.
CELL1=$WORK/grid/$(sed -n 2p "$WORK/cells.tsv" | cut -f1)
t0=$SECONDS
until [ -s "$CELL1/manifest.json" ] \
  && jq -e '[.stages[] | select(.status == "running")] | length > 0' "$CELL1/manifest.json" >/dev/null 2>&1 \
  && jq -e '.stages | keys | map(startswith("finetune")) | any' "$CELL1/manifest.json" >/dev/null 2>&1; do
  [ $((SECONDS - t0)) -lt 300 ] || die "cell 1 never started fine-tuning"
  squeue -h -j "${B}_1" | grep -q . || die "cell 1 ended before it could be cancelled"
  sleep 0.1
done
scancel "${B}_1"
say "scancel ${B}_1 while running: $(jq -r '[.stages | to_entries[] | select(.value.status == "running") | .key] | join(", ")' "$CELL1/manifest.json")"
wait_jobs "$A,$B"
DONE_BEFORE=$(jq -r '.stages | to_entries[] | select(.value.status == "done") | .key' "$CELL1/manifest.json" | sort)
for t in "${A}_0" "${B}_2" "${B}_3"; do
  [ "$(state_of "$t")" = COMPLETED ] || die "array task $t: $(state_of "$t")"
done
[ "$(state_of "${B}_1")" = CANCELLED ] || die "array task ${B}_1: $(state_of "${B}_1") (expected CANCELLED)"
say "tasks ${A}_0 ${B}_2 ${B}_3 COMPLETED, ${B}_1 CANCELLED with $(echo "$DONE_BEFORE" | grep -c .) stage(s) done"
if "$BIN" plan "$WORK/tiny.toml" "${GRID[@]}" --root "$WORK/grid" --collect > /dev/null 2> "$WORK/collect-partial.err"; then
  die "collect accepted a grid with a cancelled cell"
fi
grep -q 'sbatch --array=1 ' "$WORK/collect-partial.err" || die "collect did not name cell 1: $(cat "$WORK/collect-partial.err")"
say "collect before resubmission: $(tail -1 "$WORK/collect-partial.err")"

# --- 4. resubmit the cancelled task; collect after it --------------------------------------------
C=$(sbatch --parsable --array=1 "$WORK/grid.sbatch")
D=$(sbatch --parsable --dependency=afterok:"$C" --kill-on-invalid-dep=yes -o "$WORK/grid/logs/collect-%j.out" \
  --job-name tiny-grid-collect --wrap "$BIN plan $WORK/tiny.toml ${GRID[*]} --root $WORK/grid --collect")
say "resubmitted cell 1 as job $C; collect job $D (afterok:$C)"
wait_jobs "$C,$D"
[ "$(state_of "${C}_1")" = COMPLETED ] || [ "$(state_of "$C")" = COMPLETED ] || die "resubmitted cell 1: $(state_of "$C")"
[ "$(state_of "$D")" = COMPLETED ] || die "collect job $D: $(state_of "$D"): $(cat "$WORK/grid/logs/collect-$D.out")"
RESUMED_LOG=$(ls "$WORK"/grid/logs/"${C}"_1.out)
for s in $DONE_BEFORE; do
  if grep -q "^done  $s " "$RESUMED_LOG"; then die "resumed cell 1 re-ran finished stage $s"; fi
done
say "cell 1 resumed: $(grep -c '^done  ' "$RESUMED_LOG") stage(s) run, none of the $(echo "$DONE_BEFORE" | grep -c .) finished before the cancel"
say "collect job output:"; sed 's/^/    /' "$WORK/grid/logs/collect-$D.out"
for f in grid.csv grid.json index.html; do [ -s "$WORK/grid/summary/$f" ] || die "missing summary/$f"; done
[ "$(jq .finished "$WORK/grid/summary/grid.json")" = 4 ] || die "summary: $(jq .finished "$WORK/grid/summary/grid.json") of 4 finished"

# --- 5. the same cells locally: identical results ------------------------------------------------
say "running the 4 cells locally with tunescope study"
while IFS=$'\t' read -r name config sets; do
  args=()
  for s in $sets; do
    case $s in
      study.out=*) args+=(--set "study.out=$WORK/local/$name") ;;
      study.cache=*) args+=(--set "study.cache=$WORK/local/cache") ;;
      *) args+=(--set "$s") ;;
    esac
  done
  OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 "$BIN" study "$config" "${args[@]}" --quiet --threads 1 \
    > "$WORK/local-$(echo "$name" | tr / _).log" 2>&1 || die "local study $name failed"
done < "$WORK/cells.tsv"
python3 - "$WORK" <<'PY' || die "results differ"
import json, os, sys
work = sys.argv[1]
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k != "seconds"}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
def results(run):
    out = {}
    for d in ["compare", "probe", "directprobe", "experiments", "report"]:
        for dp, _, files in os.walk(os.path.join(run, d)):
            for f in files:
                p = os.path.join(dp, f)
                rel = os.path.relpath(p, run)
                if not f.endswith((".csv", ".json", ".txt")):
                    continue
                b = open(p, "rb").read().replace(run.encode(), b"<run>")
                if f.endswith(".json"):
                    b = json.dumps(strip(json.loads(b)), sort_keys=True).encode()
                out[rel] = b
    return out
cells = [l.split("\t")[0] for l in open(f"{work}/cells.tsv")]
total = 0
for c in cells:
    a, b = results(f"{work}/grid/{c}"), results(f"{work}/local/{c}")
    if a.keys() != b.keys():
        print(f"{c}: different files: {sorted(set(a) ^ set(b))}")
        sys.exit(1)
    bad = [k for k in a if a[k] != b[k]]
    if bad:
        print(f"{c}: {len(bad)} of {len(a)} result files differ: {bad[:5]}")
        sys.exit(1)
    total += len(a)
    print(f"    {c}: {len(a)} result files identical")
print(f"    {total} result files identical (timings and run-directory paths aside)")
PY
say "PASS: 4 cells on Slurm (one cancelled mid-run and resumed), collected, identical to local runs"
