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
