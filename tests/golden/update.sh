#!/bin/sh
# Rewrites tests/golden/ from the current build: <name>.json is the sample's
# exact JSON line, <name>.txt its CLI line then its file line; ORDER lists
# the names in `tollgate ocsf samples` order. Review the diff before
# committing.
set -eu
cd "$(dirname "$0")"
bin=${TOLLGATE_BIN:-../../build/tollgate}
names="net_open_allowed net_open_denied_policy net_open_denied_ssrf net_close net_fail
net_listen http_get_allowed http_post_denied finding_binary_hash_changed config_loaded
config_updated config_failed lifecycle_start lifecycle_stop proc_launch"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
$bin ocsf samples > "$tmp"
[ "$(echo $names | wc -w)" -eq "$(wc -l < "$tmp")" ] || { echo "sample count changed: edit names" >&2; exit 1; }
rm -f ./*.json ./*.txt ORDER
i=0
for name in $names; do
    i=$((i + 1))
    line=$(sed -n "${i}p" "$tmp")
    printf '%s\n' "$line" > "$name.json"
    printf '%s\n' "$line" | $bin ocsf render --cli > "$name.txt"
    printf '%s\n' "$line" | $bin ocsf render --file >> "$name.txt"
    echo "$name" >> ORDER
done
