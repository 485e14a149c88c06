#!/usr/bin/env bash
# phases.sh TARGET...: run make targets one after another, printing each one's wall time as
# it ends and a table of all of them at the end (or at the first failure), so a slow
# `make test` says where its time went.
set -uo pipefail
cd "$(dirname "$0")/.."

names=()
secs=()
report() {
	echo
	echo "phase times:"
	local i total=0
	for i in "${!names[@]}"; do
		printf '  %-18s %5ds\n' "${names[$i]}" "${secs[$i]}"
		total=$((total + secs[i]))
	done
	printf '  %-18s %5ds\n' total "$total"
}

for t in "$@"; do
	start=$(date +%s)
	echo "== $t"
	make --no-print-directory "$t"
	rc=$?
	names+=("$t")
	secs+=($(($(date +%s) - start)))
	echo "== $t: ${secs[-1]}s"
	if [ "$rc" != 0 ]; then
		names[-1]="$t (FAILED)"
		report
		exit "$rc"
	fi
done
report
