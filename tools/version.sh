#!/bin/sh
# The version rstwhy is built as: `git describe` of a v* tag (v0.3 -> 0.3, 0.3-4-gabc1234),
# else the VERSION file plus the commit (0.2-gabc1234, -dirty with uncommitted changes), else
# the VERSION file alone (a source tree without git, e.g. the Debian package's build copy).
cd "$(dirname "$0")/.." || exit 1
base=$(cat VERSION 2>/dev/null || echo 0)
if [ -e .git ] && command -v git >/dev/null; then
	if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
		echo "${v#v}"
		exit 0
	fi
	if c=$(git describe --always --dirty 2>/dev/null); then
		echo "$base-g$c"
		exit 0
	fi
fi
echo "$base"
