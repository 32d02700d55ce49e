#!/usr/bin/env bash
# Posts $PREVIEW_DIR/preview.md as a comment on the pull request named in
# $PREVIEW_DIR/pr-number, or updates the comment it posted before: one
# comment per pull request. The step of the dmls-preview-comment workflow.
#
# The artifact was made by the pull request's own code, so it is data only:
# the number must be a number, that pull request's head must be HEAD_SHA
# (the commit the preview run was for), and the body is sent as a JSON
# string, never evaluated.
#
#   GITHUB_TOKEN    token with pull-requests: write (required)
#   REPO            owner/name (required)
#   HEAD_SHA        head commit of the preview run (required)
#   PREVIEW_DIR     the downloaded artifact (default dmls-preview)
#   GITHUB_API_URL  the REST API (set by GitHub Actions)
#   COMMENT_AUTHOR  whose comment to update (default github-actions[bot])
set -euo pipefail

: "${GITHUB_TOKEN:?set GITHUB_TOKEN}"
: "${REPO:?set REPO to owner/name}"
: "${HEAD_SHA:?set HEAD_SHA to the head commit of the preview run}"
api=${GITHUB_API_URL:-https://api.github.com}
dir=${PREVIEW_DIR:-dmls-preview}
author=${COMMENT_AUTHOR:-github-actions[bot]}
marker='<!-- dmls-preview -->'

if [ ! -f "$dir/preview.md" ] || [ ! -f "$dir/pr-number" ]; then
	echo "no preview in $dir: nothing to post"
	exit 0
fi
pr=$(head -c 32 "$dir/pr-number" | tr -d '\n')
case $pr in
'' | *[!0-9]*)
	echo "the artifact's pr-number is not a number: refusing to comment" >&2
	exit 1
	;;
esac
if ! [[ $REPO =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
	echo "REPO must be owner/name" >&2
	exit 1
fi

gh_api() {
	curl -sS --fail-with-body \
		-H "Authorization: Bearer $GITHUB_TOKEN" \
		-H "Accept: application/vnd.github+json" \
		-H "X-GitHub-Api-Version: 2022-11-28" "$@"
}

head=$(gh_api "$api/repos/$REPO/pulls/$pr" | jq -r '.head.sha')
if [ "$head" != "$HEAD_SHA" ]; then
	echo "pull request #$pr is at ${head:-nothing}, not at $HEAD_SHA that the preview is of: not commenting (a newer run will)"
	exit 0
fi

body=$(mktemp)
{
	if [ "$(head -n 1 "$dir/preview.md")" != "$marker" ]; then
		echo "$marker"
	fi
	cat "$dir/preview.md"
} | head -c 65536 >"$body"
payload=$(jq -Rs '{body: .}' <"$body")

id=""
page=1
while [ -z "$id" ]; do
	comments=$(gh_api "$api/repos/$REPO/issues/$pr/comments?per_page=100&page=$page")
	[ "$(jq length <<<"$comments")" -gt 0 ] || break
	id=$(jq -r --arg m "$marker" --arg a "$author" \
		'[.[] | select(.user.login == $a and (.body | startswith($m)))][0].id // empty' <<<"$comments")
	page=$((page + 1))
done

if [ -n "$id" ]; then
	gh_api -X PATCH "$api/repos/$REPO/issues/comments/$id" -d "$payload" >/dev/null
	echo "updated the dmls preview comment $id on #$pr"
else
	gh_api -X POST "$api/repos/$REPO/issues/$pr/comments" -d "$payload" >/dev/null
	echo "posted the dmls preview on #$pr"
fi
