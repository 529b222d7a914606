#!/bin/sh
# train end to end on the first two blocks of SmolLM2 (fails until scripts/fetch_data.sh ran):
#  - a run of 12 steps writes its state, checkpoint, log and plot; its last line is the JSON
#    summary; the held-out perplexity falls by at least 4x (ln ppl by 1.39; about 25x is
#    measured); `eval` gives the checkpoint the perplexity train reported;
#  - resume: 6 steps, stop, resume, 6 more equal the 12-step run bitwise (state tensors and
#    checkpoint bytes) at 1 thread;
#  - a resume with other settings is refused naming them;
#  - a NaN mid-run stops before the update with a message, keeps the last good state and writes
#    no checkpoint; resuming from that state finishes the run;
#  - SIGINT saves the state and exits 130; the run resumes from it;
#  - --minutes re-plans the schedule once, after step 10, and the run takes that many steps;
#  - block-wise distillation first: both phases run, resume across them is bitwise, NaN stops.
#   train_check.sh TRAIN EVAL DATA_DIR WORK_DIR
set -eu
train=$1 eval=$2 data=${LITTLEBIT_DATA:-$3} work=$4
py=${LITTLEBIT_PYTHON:-/usr/bin/python3}
tools=$(dirname "$0")/../tools
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || { echo "FAIL: no $model: run scripts/fetch_data.sh"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work"; mkdir -p "$work"
t() { "$train" --model "$model" --layers 2 --bpw 0.55 --train "$data/text/wiki_train.txt" --seq 64 --batch 2 --threads 1 \
        --cache "$work/cache" "$@"; }
json() { tail -1 "$1" | "$py" -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$2"; }

# 1. a whole run
t --steps 12 --state "$work/a" --output "$work/a.safetensors" --log "$work/a.jsonl" --plot "$work/a.png" \
  --eval "$data/text/wiki_eval.txt" --eval-tokens 1024 --eval-every 6 > "$work/a.txt" 2>&1 || { cat "$work/a.txt"; fail "train"; }
cat "$work/a.txt"
grep -q "^plan: 14 layers at 0.590[0-9]* bits/weight (target 0.55, official rule, k/v factor 4, primary + residual)" "$work/a.txt" || fail "plan line"
grep -q "^step 12/12  loss [0-9.e+]* (KL [0-9.e+]*, lambda MSE [0-9.e+]*)  lr [0-9.e+-]*  |g| [0-9.e+]*  [0-9.]* tokens/s  ETA 0s" "$work/a.txt" || fail "progress line"
grep -q "^eval at step 6: perplexity" "$work/a.txt" || fail "evaluation every 6 steps"
for k in steps tokens train_seconds tokens_per_s loss_first loss_last ppl_dense ppl_init ppl_after eval_tokens bpw peak_rss_mb; do
  json "$work/a.txt" "$k" > /dev/null || fail "no '$k' in the summary line"
done
[ "$(json "$work/a.txt" steps)" = 12 ] && [ "$(json "$work/a.txt" tokens)" = 1536 ] || fail "steps/tokens in the summary"
[ "$(grep -c '"type":"step"' "$work/a.jsonl")" = 12 ] && [ "$(grep -c '"type":"eval"' "$work/a.jsonl")" = 3 ] || fail "log records"
[ -s "$work/a.png" ] && [ -s "$work/a/state.safetensors" ] || fail "plot or state missing"
init=$(json "$work/a.txt" ppl_init) after=$(json "$work/a.txt" ppl_after)
"$py" -c "import math,sys; i,a=float(sys.argv[1]),float(sys.argv[2]); print(f'held-out ppl {i:.4g} -> {a:.4g}: ln ppl down {math.log(i/a):.2f}'); sys.exit(0 if math.log(i/a) >= math.log(4) else 1)" \
  "$init" "$after" || fail "the held-out perplexity did not fall 4x"
"$eval" --model "$work/a.safetensors" --text "$data/text/wiki_eval.txt" --max-tokens 1024 --threads 1 > "$work/eval.txt" 2>/dev/null || fail "eval on the checkpoint"
ppl=$(tail -1 "$work/eval.txt" | awk '{print $2}')
"$py" -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'eval {a:.8g}, train {b:.8g}'); sys.exit(0 if abs(a-b) <= 1e-6*b else 1)" "$ppl" "$after" \
  || fail "eval's perplexity of the checkpoint differs from train's"

# 2. resume: 6 + 6 steps = 12 steps, bitwise
t --steps 12 --stop-after 6 --state "$work/b" > "$work/b1.txt" 2>&1 || { cat "$work/b1.txt"; fail "train --stop-after"; }
grep -q "stopped at step 6 of 12 (--stop-after); continue with --resume" "$work/b1.txt" || fail "stop message"
t --steps 12 --state "$work/b" --resume --output "$work/b.safetensors" > "$work/b2.txt" 2>&1 || { cat "$work/b2.txt"; fail "train --resume"; }
grep -q "resumed .*state.safetensors at step 6 of 12" "$work/b2.txt" || fail "resume message"
"$py" "$tools/compare_tensors.py" "$work/a/state.safetensors" "$work/b/state.safetensors" || fail "resumed state differs"
cmp "$work/a.safetensors" "$work/b.safetensors" || fail "resumed checkpoint differs"

# 3. a resume with other settings is refused, naming them
if t --steps 12 --state "$work/b" --resume --lr 0.001 --seed 5 > "$work/c.txt" 2>&1; then fail "resume with other settings ran"; fi
cat "$work/c.txt"
grep -q "train: --resume refused: the saved run .*state.safetensors has other settings:" "$work/c.txt" || fail "refusal message"
grep -q "lr: saved 0.00012, now 0.001" "$work/c.txt" && grep -q 'seed: saved "0", now "5"' "$work/c.txt" || fail "refusal names lr and seed"

# 4. NaN mid-run
if t --steps 6 --fault-nan-at 3 --state "$work/n" --output "$work/n.safetensors" > "$work/n.txt" 2>&1; then fail "NaN run succeeded"; fi
cat "$work/n.txt"
grep -q "train: the loss is not finite at step 4 .*: stopped before updating" "$work/n.txt" || fail "NaN message"
grep -q "state saved at step 3 (the last good state, before the non-finite step)" "$work/n.txt" || fail "NaN: state kept"
[ ! -e "$work/n.safetensors" ] || fail "NaN: a checkpoint was written"
t --steps 6 --state "$work/n" --resume --output "$work/n.safetensors" > "$work/n2.txt" 2>&1 || { cat "$work/n2.txt"; fail "resume after NaN"; }
grep -q "resumed .* at step 3 of 6" "$work/n2.txt" && [ -s "$work/n.safetensors" ] || fail "resume after NaN"

# 5. SIGINT
# (exec: the signal goes to train itself, not to a subshell, which ignores SIGINT in the background)
(exec "$train" --model "$model" --layers 2 --bpw 0.55 --train "$data/text/wiki_train.txt" --seq 64 --batch 2 --threads 1 \
   --cache "$work/cache" --steps 100000 --state "$work/s" > "$work/s.txt" 2>&1) &
pid=$!
i=0
until grep -q "^step 2/" "$work/s.txt"; do
  i=$((i + 1)); [ $i -lt 600 ] || { kill $pid; fail "no progress before SIGINT"; }
  sleep 0.1
done
kill -INT $pid
rc=0; wait $pid || rc=$?
cat "$work/s.txt" | tail -3
[ $rc = 130 ] || fail "SIGINT: exit status $rc, expected 130"
grep -q "state saved at step [0-9]* (interrupted)" "$work/s.txt" && grep -q "stopped at step [0-9]* of 100000 (SIGINT)" "$work/s.txt" || fail "SIGINT messages"
t --steps 100000 --state "$work/s" --resume --stop-after 4 > "$work/s2.txt" 2>&1 || { cat "$work/s2.txt"; fail "resume after SIGINT"; }
grep -q "resumed .* of 100000" "$work/s2.txt" || fail "resume after SIGINT"

# 6. --minutes: planned after step 2, re-planned once after step 10, and the run takes the
#    re-planned number of steps
t --minutes 0.3 --output "$work/m.safetensors" > "$work/m.txt" 2>&1 || { cat "$work/m.txt"; fail "train --minutes"; }
grep "^plan: [0-9]* steps\|^re-plan" "$work/m.txt"
n=$(sed -n 's/^re-plan: \([0-9]*\) steps in 0.3 minutes (median step [0-9.]* s over steps 3-10; the first plan [0-9]*)$/\1/p' "$work/m.txt")
[ -n "$n" ] || fail "no re-plan line after step 10"
grep -q "^step $n/$n " "$work/m.txt" && [ "$(json "$work/m.txt" steps)" = "$n" ] || fail "the run did not take the re-planned $n steps"

# 7. block-wise distillation first (--blockwise, --hidden-norm): both phases' lines; a resume
#    across the phase boundary equals the whole run bitwise; a NaN in the block-wise phase stops
#    it like one in the global phase; --minutes plans the block-wise phase; --recipe littlebit
w() { t --steps 12 --blockwise 0.5 --hidden-norm layer --block-input student "$@"; }
w --state "$work/w" --output "$work/w.safetensors" > "$work/w.txt" 2>&1 || { cat "$work/w.txt"; fail "train --blockwise"; }
grep -q "^block-wise step 6/6  loss [0-9.e+-]* (sum over 2 blocks)" "$work/w.txt" && grep -q "^step 12/12  loss" "$work/w.txt" \
  && ! grep -q "^block-wise step 7" "$work/w.txt" || { cat "$work/w.txt"; fail "block-wise then global phase lines"; }
w --stop-after 4 --state "$work/w2" > "$work/w1.txt" 2>&1 || { cat "$work/w1.txt"; fail "train --blockwise --stop-after"; }
w --stop-after 8 --state "$work/w2" --resume > "$work/w2.txt" 2>&1 || { cat "$work/w2.txt"; fail "train --blockwise resume 1"; }
w --state "$work/w2" --resume --output "$work/w2.safetensors" > "$work/w3.txt" 2>&1 || { cat "$work/w3.txt"; fail "train --blockwise resume 2"; }
"$py" "$tools/compare_tensors.py" "$work/w/state.safetensors" "$work/w2/state.safetensors" || fail "block-wise resumed state differs"
cmp "$work/w.safetensors" "$work/w2.safetensors" || fail "block-wise resumed checkpoint differs"
if w --fault-nan-at 2 --state "$work/wn" > "$work/wn.txt" 2>&1; then fail "NaN in the block-wise phase: the run succeeded"; fi
grep -q "train: the loss is not finite at step 3 .*: stopped before updating" "$work/wn.txt" \
  && grep -q "state saved at step 2 (the last good state" "$work/wn.txt" || { cat "$work/wn.txt"; fail "block-wise NaN stop"; }
t --minutes 0.3 --blockwise 0.3 --recipe littlebit > "$work/wm.txt" 2>&1 || { cat "$work/wm.txt"; fail "train --minutes --blockwise"; }
grep -q "^training: recipe littlebit: " "$work/wm.txt" && grep -q "^plan: [0-9]* block-wise steps in " "$work/wm.txt" \
  && grep -q "^plan: [0-9]* steps in 0.3 minutes" "$work/wm.txt" || { cat "$work/wm.txt"; fail "--minutes with a block-wise phase"; }
echo "PASS"
