# shellcheck shell=bash
# Shared by install.sh and uninstall.sh (sourced, not run): every change to the machine
# goes through these functions, so that --dry-run prints it instead of making it and
# --root DIR makes it under DIR (a scratch or debootstrap'ed root) without touching the
# running system.
#
# Set before sourcing: PROG. Set by the caller: ROOT (default /), DRY_RUN ("" or 1).

ROOT=${ROOT:-/}
DRY_RUN=${DRY_RUN:-}
CHANGES=0

die() { echo "$PROG: $*" >&2; exit 1; }
warn() { echo "$PROG: warning: $*" >&2; }
note() { echo "$PROG: $*"; }

# The path of target path $1 under ROOT.
r() { if [ "$ROOT" = / ]; then echo "$1"; else echo "${ROOT%/}$1"; fi; }
on_host() { [ "$ROOT" = / ]; }

# Announce a change; true when it is to be made now (false on a dry run).
change() {
    CHANGES=$((CHANGES + 1))
    if [ -n "$DRY_RUN" ]; then
        echo "would $*"
        return 1
    fi
    echo "$*"
}

# A command acting on the running system (udevadm, systemctl, apt-get, setupcon): run on
# the host; with --root only printed, since the root is not running.
run_host() {
    if ! on_host; then
        echo "skipped under --root: $*"
        return 0
    fi
    change "run: $*" || return 0
    "$@"
}

# Users and groups, looked up in ROOT's files (or through NSS on the host).
passwd_entry() {
    if on_host; then getent passwd "$1"; else awk -F: -v n="$1" '$1 == n' "$(r /etc/passwd)"; fi
}
group_entry() {
    if on_host; then getent group "$1"; else awk -F: -v n="$1" '$1 == n' "$(r /etc/group)"; fi
}
user_exists() { [ -n "$(passwd_entry "$1")" ]; }
group_exists() { [ -n "$(group_entry "$1")" ]; }
uid_of() { if [ "$1" = root ]; then echo 0; else passwd_entry "$1" | cut -d: -f3; fi; }
gid_of() { if [ "$1" = root ]; then echo 0; else group_entry "$1" | cut -d: -f3; fi; }
in_group() { # user group
    group_entry "$2" | cut -d: -f4 | tr ',' '\n' | grep -qx "$1"
}
# --prefix for the shadow tools (useradd, usermod, ...) when working under a root.
shadow_prefix() { if on_host; then :; else echo "--prefix=$ROOT"; fi; }

# Owner and mode of an existing path: fix them when they differ.
fix_meta() { # path mode owner group
    local path=$1 mode=$2 owner=$3 group=$4 p cur uid gid
    p=$(r "$path")
    [ -e "$p" ] || [ -L "$p" ] || return 0
    cur=$(stat -c '%a' "$p")
    if [ $((8#$cur)) -ne $((8#$mode)) ]; then
        change "chmod $mode $path" && chmod "$mode" "$p"
    fi
    uid=$(uid_of "$owner")
    gid=$(gid_of "$group")
    if [ -z "$uid" ] || [ -z "$gid" ] || [ "$(stat -c '%u:%g' "$p")" != "$uid:$gid" ]; then
        change "chown $owner:$group $path" && chown "$uid:$gid" "$p"
    fi
    return 0
}

# Folders a dry run has announced (so that it announces each one once).
declare -A PLANNED_DIRS=()
dir_exists() { [ -d "$(r "$1")" ] || [ -n "${PLANNED_DIRS[$1]:-}" ]; }

# Missing parent folders of a target path, created root-owned 0755.
ensure_parent() {
    local parent
    parent=$(dirname "$1")
    dir_exists "$parent" && return 0
    PLANNED_DIRS[$parent]=1
    change "create folder $parent" && mkdir -p "$(r "$parent")"
    return 0
}

# A folder this project owns: created, or its owner and mode corrected.
ensure_dir() { # path mode owner group
    local path=$1 mode=$2 owner=$3 group=$4
    if [ -n "${PLANNED_DIRS[$path]:-}" ] && [ ! -d "$(r "$path")" ]; then
        return 0
    fi
    if [ ! -d "$(r "$path")" ]; then
        ensure_parent "$path"
        PLANNED_DIRS[$path]=1
        if change "create folder $path ($mode $owner:$group)"; then
            mkdir -p "$(r "$path")"
            chmod "$mode" "$(r "$path")"
            chown "$(uid_of "$owner"):$(gid_of "$group")" "$(r "$path")"
        fi
        return 0
    fi
    fix_meta "$path" "$mode" "$owner" "$group"
}

# A file this project owns, from a source file: written when its content differs.
install_file() { # source path mode owner group
    local src=$1 path=$2 mode=$3 owner=$4 group=$5 p
    p=$(r "$path")
    if [ -f "$p" ] && [ ! -L "$p" ] && cmp -s "$src" "$p"; then
        fix_meta "$path" "$mode" "$owner" "$group"
        return 0
    fi
    ensure_parent "$path"
    local what=create
    [ -e "$p" ] && what=update
    if change "$what $path ($mode $owner:$group)"; then
        install -m "$mode" -o "$(uid_of "$owner")" -g "$(gid_of "$group")" "$src" "$p"
    fi
    return 0
}

# A symbolic link this project owns.
ensure_link() { # path target
    local path=$1 target=$2 p
    p=$(r "$path")
    if [ -L "$p" ] && [ "$(readlink "$p")" = "$target" ]; then
        return 0
    fi
    if [ -e "$p" ] && [ ! -L "$p" ]; then
        warn "$path exists and is not a link: left alone"
        return 0
    fi
    ensure_parent "$path"
    change "link $path -> $target" && ln -sfn "$target" "$p"
    return 0
}

# Remove a file or link this project installed.
remove_path() {
    local p
    p=$(r "$1")
    [ -e "$p" ] || [ -L "$p" ] || return 0
    change "remove $1" && rm -f "$p"
    return 0
}

# Remove a folder tree (only for folders this project owns).
remove_tree() {
    local p
    p=$(r "$1")
    [ -e "$p" ] || return 0
    change "remove folder $1 (and everything in it)" && rm -rf "$p"
    return 0
}

# Remove a folder if it is empty.
remove_empty_dir() {
    local p
    p=$(r "$1")
    [ -d "$p" ] || return 0
    [ -z "$(ls -A "$p")" ] || return 0
    change "remove empty folder $1" && rmdir "$p"
    return 0
}

# systemctl for the host, or offline on ROOT (enable/disable/is-enabled work offline).
sysctl_root() {
    if on_host; then systemctl "$@"; else systemctl --root="$ROOT" "$@"; fi
}
is_enabled() { [ "$(sysctl_root is-enabled "$1" 2>/dev/null)" = enabled ]; }
systemd_running() { on_host && [ -d /run/systemd/system ]; }

check_name() { # what value
    [[ "$2" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "$1 '$2' is not a valid user or group name"
}
check_abs_path() { # what value
    if [[ ! "$2" =~ ^/[A-Za-z0-9._/-]*$ ]] || [[ "$2" == *..* ]]; then
        die "$1 '$2' must be an absolute path of letters, digits, '.', '_', '-' and '/'"
    fi
}
