#!/usr/bin/env bash
# System packages the class grader and its tests need, from Debian's archive:
#   bubblewrap  - the sandbox every learner kernel runs in (python -m autograder grade refuses
#                 to grade without it)
#   postgresql  - a real PostgreSQL server for the test of a PostgreSQL gradebook; it brings
#                 libpq5, which the pure-Python psycopg (requirements.txt) loads
#   util-linux  - prlimit, setpriv and mount (per-process limits, unprivileged user, the
#                 size-capped work folder); part of every Debian. The per-sandbox cgroup
#                 limits need no package: the kernel's cgroup v1 or v2 (autograder/cgroups.py)
# Installs only what is missing; needs root (CI and the developers' machines run as root).
set -euo pipefail
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v prlimit >/dev/null && command -v setpriv >/dev/null && command -v mount >/dev/null \
    || missing+=(util-linux)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "error: need ${missing[*]} (Debian packages); run as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "==> installing ${missing[*]} (Debian packages, for the class grader and its tests)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
