# Shared by scripts/demo.sh and scripts/test.sh: installs what procgate needs on a Debian
# machine where it is missing (PostgreSQL server binaries for the private cluster, a C
# compiler for the Oracle driver's ODPI-C), and checks for a Rust toolchain.

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_prereqs() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        echo "installing PostgreSQL (apt-get install postgresql)..." >&2
        apt_install postgresql
    fi
    command -v cc >/dev/null || { echo "installing a C compiler..." >&2; apt_install build-essential; }
    command -v runuser >/dev/null && command -v setsid >/dev/null || apt_install util-linux
    command -v python3 >/dev/null || apt_install python3
    # The TLS tests make their certificate authority with the openssl command.
    command -v openssl >/dev/null || apt_install openssl
    # The Oracle grammar check (scripts/check-oracle-sql) runs on node with npm packages.
    command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
    if ! command -v cargo >/dev/null; then
        echo "cargo not found: install Rust (https://rustup.rs), then run this again" >&2
        exit 1
    fi
}

# What scripts/test.sh needs beyond ensure_prereqs: Debian's chromium for the dashboard's browser
# test (tests/api/ui.rs drives it with playwright-core, which downloads no browser).
ensure_test_prereqs() {
    if [ ! -x /usr/bin/chromium ]; then
        echo "installing chromium (apt-get install chromium) for the dashboard's browser test..." >&2
        apt_install chromium
    fi
}

# npm_ci_when_changed DIR WHAT: installs DIR's npm packages exactly as its committed
# package-lock.json says (npm ci into DIR/node_modules, git-ignored), when they are missing or the
# lock file changed since the last install (the stamp is a copy of the lock file it installed).
npm_ci_when_changed() {
    local dir=$1 what=$2 stamp="$1/node_modules/.installed-package-lock.json"
    if ! cmp -s "$dir/package-lock.json" "$stamp"; then
        echo "installing $what (npm ci in $dir)..." >&2
        npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2
        cp "$dir/package-lock.json" "$stamp"
    fi
}

# pip_install_when_changed VENV REQUIREMENTS WHAT: a python3 venv at VENV (outside the repository)
# holding exactly the hash-pinned packages of REQUIREMENTS, made again when they are missing or
# the file changed since the last install (the stamp is a copy of the file it installed).
pip_install_when_changed() {
    local venv=$1 requirements=$2 what=$3 stamp="$1/.installed-requirements.txt"
    if ! cmp -s "$requirements" "$stamp"; then
        python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
        echo "installing $what (pip into $venv)..." >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
            -r "$requirements" >&2
        cp "$requirements" "$stamp"
    fi
}
