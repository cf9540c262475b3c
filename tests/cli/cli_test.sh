#!/usr/bin/env bash
# End to end through the real `eddy` binary on real files:
# generate -> normalize (every shipped shape), dead letters, summaries, exit codes.
# Usage: cli_test.sh EDDY_BINARY SOURCE_DIR
set -euo pipefail
eddy=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export EDDY_CONFIG_DIR="$src/configs"
fails=0
check() { # description, command...
  local what=$1
  shift
  if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}
json_field() { # file, python expression on `s`
  python3 -c "import json,sys; s=json.load(open('$1')); print($2)"
}

# 1. Generated shop in each source shape, normalized back with the shipped mapping:
#    the same number of events and no rejects.
"$eddy" generate --seed 7 --hours 3 --events 20000 -o "$work/shop.msgpack" 2>"$work/gen.log"
for shape in retailrocket:retailrocket-events:csv taobao:taobao-userbehavior:csv pixel:pixel-jsonl:jsonl; do
  IFS=: read -r fmt mapping ext <<<"$shape"
  "$eddy" generate --seed 7 --hours 3 --events 20000 --format "$fmt" -o "$work/$fmt.$ext" 2>/dev/null
  "$eddy" normalize --schema "$mapping" "$work/$fmt.$ext" -o "$work/$fmt.out.msgpack" \
    --summary json >"$work/$fmt.summary.json"
  check "$fmt: 20000 events, 0 rejects" \
    test "$(json_field "$work/$fmt.summary.json" "s['events'], s['rejects']")" = "20000 0"
done
check "generate wrote ground-truth surges" test "$(head -1 "$work/shop.msgpack.surges.csv")" = "item,start_ms,end_ms,factor"
check "generate is deterministic" cmp -s \
  <("$eddy" generate --seed 3 --events 5000 --format csv -o - 2>/dev/null) \
  <("$eddy" generate --seed 3 --events 5000 --format csv -o - 2>/dev/null)

# 2. The three shapes normalize to the same canonical events (taobao has seconds,
#    so compare user,item,type only; pixel has ms like retailrocket).
for fmt in retailrocket taobao pixel; do
  "$eddy" normalize -s "$( [ $fmt = retailrocket ] && echo retailrocket-events || ([ $fmt = taobao ] && echo taobao-userbehavior || echo pixel-jsonl))" \
    "$work/$fmt.$( [ $fmt = pixel ] && echo jsonl || echo csv)" -o "$work/$fmt.canon.csv" 2>/dev/null
done
check "retailrocket and pixel give identical events" \
  diff <(cut -d, -f1-4 "$work/retailrocket.canon.csv") <(cut -d, -f1-4 "$work/pixel.canon.csv")
check "taobao (like/fav aside) gives the same user,item,type" \
  diff <(cut -d, -f1-3 "$work/retailrocket.canon.csv") <(cut -d, -f1-3 "$work/taobao.canon.csv")

# 3. A messy file: one reject per bad row, every good row kept, gzip input.
{
  echo "timestamp,visitorid,event,itemid,transactionid"
  echo "1433221332117,1,view,10,"
  echo "yesterday,2,view,10,"
  echo "1433221332117,3,teleport,10,"
  echo "1433221332117,4,view"
  printf '1433221332117,5\xff,view,10,\n'
  echo "1433221332117,$(printf 'x%.0s' $(seq 300)),view,10,"
  echo "1433221332117,7,addtocart,11,"
  printf '1433221332117,8,vi'
} | gzip >"$work/messy.csv.gz"
set +e
"$eddy" normalize -s retailrocket-events "$work/messy.csv.gz" -o "$work/messy.jsonl" \
  --summary json >"$work/messy.json"
rc=$?
set -e
check "rejects do not fail the run" test $rc -eq 0
check "2 good events" test "$(wc -l <"$work/messy.jsonl")" -eq 2
check "6 dead letters" test "$(wc -l <"$work/messy.jsonl.rejects.jsonl")" -eq 6
check "summary counts by reason" test \
  "$(json_field "$work/messy.json" "' '.join(f'{k}={v}' for k,v in sorted(s['rejects_by_reason'].items()) if v)")" \
  = "bad_timestamp=1 id_too_long=1 invalid_utf8=1 missing_field=2 unknown_type=1"
check "dead letters are JSON with source, line, raw, reason" python3 - "$work/messy.jsonl.rejects.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["line"] for r in rows] == [3, 4, 5, 6, 7, 9], rows
assert all(r["source"].endswith("messy.csv.gz") and r["reason"] and r["detail"] for r in rows)
assert rows[0]["raw"] == "yesterday,2,view,10,"
assert "raw_base64" in rows[3]
PY

# 4. Errors: exit codes and messages that name the problem.
set +e
"$eddy" normalize -s no-such-mapping "$work/messy.csv.gz" -o "$work/x.csv" 2>"$work/err1"
rc1=$?
"$eddy" normalize -s retailrocket-events "$work/missing.csv" -o "$work/x.csv" 2>"$work/err2"
rc2=$?
"$eddy" generate --items 0 -o "$work/x.csv" 2>"$work/err3"
rc3=$?
set -e
check "unknown mapping: exit 2, names it" test $rc1 -eq 2 -a -n "$(grep no-such-mapping "$work/err1")"
check "missing input: exit 1, names it" test $rc2 -eq 1 -a -n "$(grep missing.csv "$work/err2")"
check "bad generate option: exit 2, names it" test $rc3 -eq 2 -a -n "$(grep -- --items "$work/err3")"

# 5. --help explains every option.
help=$("$eddy" normalize --help)
for opt in --schema --output --format --dead-letter --interactions --summary --progress; do
  check "normalize --help mentions $opt" grep -q -- "$opt" <<<"$help"
done

# 6. eval: ALS and popularity on the generated shop (an eddy .msgpack stream).
"$eddy" eval "$work/shop.msgpack" --factors 8 --iterations 3 --threads 1 --json \
  >"$work/eval.json" 2>"$work/eval.log"
check "eval scores ALS and popularity on the same test users" \
  test "$(json_field "$work/eval.json" "s['als']['users'] == s['popularity']['users'] > 0, len(s['loss'])")" = "True 3"
check "eval reports progress per iteration" test "$(grep -c '^  iteration' "$work/eval.log")" -eq 3
help=$("$eddy" eval --help)
for opt in --schema --preset --cutoff --factors --alpha --reg --iterations --cg-steps --threads --seed --json; do
  check "eval --help mentions $opt" grep -q -- "$opt" <<<"$help"
done

[ $fails -eq 0 ] && echo "cli: all checks passed" || { echo "cli: $fails check(s) failed"; exit 1; }
