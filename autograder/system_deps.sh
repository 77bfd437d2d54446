#!/usr/bin/env bash
# System packages the class grader and its tests need, from Debian's archive:
#   bubblewrap  - the sandbox every learner kernel runs in (python -m autograder grade refuses
#                 to grade without it)
#   postgresql  - a real PostgreSQL server for the test of a PostgreSQL gradebook; it brings
#                 libpq5, which the pure-Python psycopg (requirements.txt) loads
#   util-linux  - prlimit, setpriv and mount (the warm-up run's limits and user, the
#                 size-capped work folder); part of every Debian. The per-sandbox cgroup
#                 limits need no package: the kernel's cgroup v1 or v2 (autograder/cgroups.py)
# Installs only what is missing, as root (CI and the developers' machines run as root); as an
# ordinary user it only checks, and says what an admin must install.
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
    if [ "${missing[*]}" = postgresql ]; then  # only the PostgreSQL gradebook's test needs it
        echo "note: postgresql is not installed (only its test needs it: apt-get install postgresql, as root)" >&2
        exit 0
    fi
    echo "error: need ${missing[*]} (Debian packages); ask an admin to run: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "==> installing ${missing[*]} (Debian packages, for the class grader and its tests)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
