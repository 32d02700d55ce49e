#!/usr/bin/env bash
# Renders the dmls preview of a change into $OUT: preview.md (or .txt, .json:
# dmls diff in FORMAT), changes (yes, none or error), and for a pull request
# pr-number and head-sha. The step of the action (action.yml) and of the
# dmls-preview workflow; it needs no secret.
# Locally: BASE_SHA=origin/main bash .github/scripts/dmls-preview.sh
#
#   BASE_SHA        the base commit (required)
#   PR_NUMBER       the pull request's number, passed on to the comment
#   HEAD_SHA        the pull request's head commit, passed on to the comment
#   DMLS_WORKSPACE  the workspace folder (default .)
#   FORMAT          markdown (default), text or json
#   OUT             the output folder (default dmls-preview)
#   DMLS            the dmls binary (default: ./cmd/dmls built, in the dmls
#                   repository; elsewhere the action installs a release)
set -euo pipefail

: "${BASE_SHA:?set BASE_SHA to the base commit}"
case ${PR_NUMBER:-} in
*[!0-9]*)
	echo "PR_NUMBER must be a number, not '$PR_NUMBER'" >&2
	exit 2
	;;
esac
format=${FORMAT:-markdown}
case $format in
markdown) ext=md ;;
text) ext=txt ;;
json) ext=json ;;
*)
	echo "FORMAT must be markdown, text or json, not '$format'" >&2
	exit 2
	;;
esac
ws=${DMLS_WORKSPACE:-.}
out=${OUT:-dmls-preview}
mkdir -p "$out"

dmls=${DMLS:-}
if [ -z "$dmls" ]; then
	if [ -f cmd/dmls/main.go ] && grep -q '^module github.com/dmls-project/dmls$' go.mod 2>/dev/null; then
		bin=$(mktemp -d)
		go build -o "$bin/dmls" ./cmd/dmls
		dmls=$bin/dmls
	else
		echo "set DMLS to a dmls binary, or use the dmls action (uses: dmls-project/dmls@VERSION), which installs a verified release" >&2
		exit 2
	fi
fi

if [ -n "${PR_NUMBER:-}" ]; then
	printf '%s\n' "$PR_NUMBER" >"$out/pr-number"
	printf '%s\n' "${HEAD_SHA:-}" >"$out/head-sha"
fi

rc=0
"$dmls" diff -w "$ws" --base "$BASE_SHA" --format "$format" --exit-code >"$out/preview.$ext" 2>"$out/stderr.txt" || rc=$?
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
	} >"$out/preview.$ext"
	exit 1
	;;
esac
echo "dmls preview: $(cat "$out/changes") (written to $out/preview.$ext)"
