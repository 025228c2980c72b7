#!/bin/sh
# Seeds the fuzzer: copies the example programs and the test fixtures into
# fuzz/corpus/parse_check/ and writes fuzz/corpus/loyalty.dict (both
# git-ignored), a libFuzzer dictionary of every literal in the grammar, so
# mutations splice in real keywords and punctuation. Run from anywhere; safe
# to run again.
set -eu
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
corpus="$fuzz_dir/corpus/parse_check"
mkdir -p "$corpus"
for file in "$root"/programs/*.loyalty "$root"/tests/fixtures/*.loyalty; do
    if [ -f "$file" ]; then cp "$file" "$corpus/"; fi
done
# Quoted literals, escapes included (`"\""`), once each; libFuzzer knows
# only the `\\`, `\"` and `\xNN` escapes, so `\t` becomes `\x09`.
dict="$fuzz_dir/corpus/loyalty.dict"
grep -oE '"([^"\\]|\\.)*"' "$root/grammar/loyalty.pest" | sed 's/\\t/\\x09/' | sort -u > "$dict"
echo "corpus: $(ls "$corpus" | wc -l) files; dictionary: $(wc -l < "$dict") entries"

# events_engine: each example's sample events, as CSV, JSON Lines and YAML,
# behind the three bytes that pick the program (in the target's order), the
# format and the order.
events="$fuzz_dir/corpus/events_engine"
mkdir -p "$events"
python3 - "$root" "$events" <<'PY'
import csv, io, json, sys
root, out = sys.argv[1], sys.argv[2]
names = ["bean_stars", "cartwheel", "harbor_hotels", "meridian_cards", "northwind_miles"]
for i, name in enumerate(names):
    with open(f"{root}/programs/{name}.events.csv", newline="") as f:
        text = f.read()
    rows = [{k: v for k, v in r.items() if v} for r in csv.DictReader(io.StringIO(text))]
    jsonl = "".join(json.dumps(r) + "\n" for r in rows)
    yaml = "".join("- " + ", ".join(f"{k}: {json.dumps(v)}" for k, v in r.items()).join("{}") + "\n" for r in rows)
    for f, body in enumerate([text, jsonl, yaml]):
        for order in range(4):
            with open(f"{out}/{name}-{f}-{order}", "wb") as w:
                w.write(bytes([i, f, order]) + body.encode())
PY
# Words of events: types, built-in fields, and the examples' header names.
events_dict="$fuzz_dir/corpus/events.dict"
{
    for word in purchase enroll return redeem use_perk transfer join_pool leave_pool adjust \
        cancel_redeem id time member type amount of reward points points_type perk to pool \
        reason purchase expires redemption; do
        printf '"%s"\n' "$word"
    done
    head -qn1 "$root"/programs/*.events.csv | tr ',' '\n' | sed 's/.*/"&"/'
    printf '"%s"\n' "2025-01-05T08:00:00" "2025-01-05 08:00" "-05:00" "Z" "\\xef\\xbb\\xbf" "---" "\\x22"
} | sort -u > "$events_dict"
echo "events corpus: $(ls "$events" | wc -l) files; dictionary: $(wc -l < "$events_dict") entries"
