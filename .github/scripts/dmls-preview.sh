#!/usr/bin/env bash
# Renders the dmls preview of a pull request into $OUT: preview.md (the
# Markdown of dmls diff), pr-number, head-sha and changes (yes, none or
# error). The step of the dmls-preview workflow; it needs no secret.
# Locally: BASE_SHA=origin/main PR_NUMBER=1 bash .github/scripts/dmls-preview.sh
#
#   BASE_SHA        the base commit (required)
#   PR_NUMBER       the pull request's number (required)
#   HEAD_SHA        the pull request's head commit, passed on to the comment
#   DMLS_WORKSPACE  the workspace folder (default .)
#   OUT             the output folder (default dmls-preview)
#   DMLS            a dmls binary to use; else ./cmd/dmls is built when this
#                   is the dmls repository, or DMLS_VERSION is installed
set -euo pipefail

: "${BASE_SHA:?set BASE_SHA to the base commit of the pull request}"
: "${PR_NUMBER:?set PR_NUMBER to the number of the pull request}"
case $PR_NUMBER in
'' | *[!0-9]*)
	echo "PR_NUMBER must be a number, not '$PR_NUMBER'" >&2
	exit 2
	;;
esac
ws=${DMLS_WORKSPACE:-.}
out=${OUT:-dmls-preview}
mkdir -p "$out"

dmls=${DMLS:-}
if [ -z "$dmls" ]; then
	bin=$(mktemp -d)
	if [ -f cmd/dmls/main.go ] && grep -q '^module github.com/dmls-project/dmls$' go.mod 2>/dev/null; then
		go build -o "$bin/dmls" ./cmd/dmls
	else
		GOBIN=$bin go install "github.com/dmls-project/dmls/cmd/dmls@${DMLS_VERSION:-latest}"
	fi
	dmls=$bin/dmls
fi

printf '%s\n' "$PR_NUMBER" >"$out/pr-number"
printf '%s\n' "${HEAD_SHA:-}" >"$out/head-sha"

rc=0
"$dmls" diff -w "$ws" --base "$BASE_SHA" --format markdown --exit-code >"$out/preview.md" 2>"$out/stderr.txt" || rc=$?
cat "$out/stderr.txt" >&2
case $rc in
0) echo none >"$out/changes" ;;
1) echo yes >"$out/changes" ;;
*)
	echo error >"$out/changes"
	{
		echo '<!-- dmls-preview -->'
		echo '### dmls preview'
		echo
		echo 'dmls diff failed on this pull request:'
		echo
		echo '```'
		head -c 60000 "$out/stderr.txt"
		echo '```'
	} >"$out/preview.md"
	exit 1
	;;
esac
echo "dmls preview: $(cat "$out/changes") (written to $out/preview.md)"
