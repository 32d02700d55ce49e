package spec

import "regexp"

// ImageRepository is where dmls's releases publish the dmls image.
const ImageRepository = "ghcr.io/dmls-project/dmls"

// releaseVersion is a release's version: vMAJOR.MINOR.PATCH, with an
// optional pre-release (v1.2.0-rc.1).
var releaseVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// notReleased is what git describe adds past a tag (commits since it, the
// commit, a dirty tree): such a build has no published image.
var notReleased = regexp.MustCompile(`-[0-9]+-g[0-9a-f]{7,}|-dirty$`)

// ReleaseImage returns the dmls image of the release version, the default
// of a platform's api.image, or false when version is not a release's
// (a development build has no image of its own to point at).
func ReleaseImage(version string) (string, bool) {
	if !releaseVersion.MatchString(version) || notReleased.MatchString(version) {
		return "", false
	}
	return ImageRepository + ":" + version, true
}
