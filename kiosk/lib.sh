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

# A command that fails ends the script (set -eE): say which step, where and what first.
# Also run in a command substitution that fails; its caller then says where it was.
on_error() { # status
    local status=$1 i step="" fn=${FUNCNAME[1]:-main}
    trap - ERR
    for ((i = ${#FUNCNAME[@]} - 1; i > 0; i--)); do
        case ${FUNCNAME[i]} in step_*) step=${FUNCNAME[i]#step_}; break ;; esac
    done
    [ "$fn" = main ] && fn="" || fn=" in $fn"
    echo "$PROG: failed${step:+ in step $step}: line ${BASH_LINENO[0]} of" \
         "$(basename "${BASH_SOURCE[1]:-$0}")$fn: $BASH_COMMAND (exit $status)" >&2
    exit "$status"
}
trap 'on_error $?' ERR

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

# Users and groups, looked up in ROOT's files (or through NSS on the host). An account
# that does not exist is an answer (nothing printed), never a failure.
account_entry() { # database (passwd, group) name
    local rc=0
    if on_host; then
        getent "$1" "$2" || rc=$?
        # getent: 2 is "no such key"
        [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || die "getent $1 $2 failed (exit $rc)"
    else
        awk -F: -v n="$2" '$1 == n' "$(r "/etc/$1")" || die "could not read $(r "/etc/$1")"
    fi
}
passwd_entry() { account_entry passwd "$1"; }
group_entry() { account_entry group "$1"; }
user_exists() { [ -n "$(passwd_entry "$1")" ]; }
group_exists() { [ -n "$(group_entry "$1")" ]; }
uid_of() { if [ "$1" = root ]; then echo 0; else passwd_entry "$1" | cut -d: -f3; fi; }
gid_of() { if [ "$1" = root ]; then echo 0; else group_entry "$1" | cut -d: -f3; fi; }
in_group() { # user group: the user is listed as a member of the group
    local members
    members=$(group_entry "$2" | cut -d: -f4)
    [[ ",$members," == *",$1,"* ]]
}

# Accounts a dry run has announced it would add (user:NAME, group:NAME).
declare -A PLANNED_ACCOUNTS=()
plan_account() { # user|group name
    [ -z "$DRY_RUN" ] || PLANNED_ACCOUNTS[$1:$2]=1
}
# "uid:gid" of owner and group. On a dry run an account announced above is not there
# yet: its id is empty. Any other missing account is an error.
owner_ids() { # owner group
    local uid gid
    uid=$(uid_of "$1")
    gid=$(gid_of "$2")
    if [ -z "$uid" ] && [ -z "${PLANNED_ACCOUNTS[user:$1]:-}" ]; then
        die "no user $1 in $(r /etc/passwd)"
    fi
    if [ -z "$gid" ] && [ -z "${PLANNED_ACCOUNTS[group:$2]:-}" ]; then
        die "no group $2 in $(r /etc/group)"
    fi
    echo "$uid:$gid"
}
# Which of owner and group a dry run has yet to add ("user created above"), or nothing.
pending_accounts() { # owner group
    local ids
    ids=$(owner_ids "$1" "$2")
    case "$ids" in
        :) if [ "$1" = "$2" ]; then echo "user created above"  # useradd --user-group
           else echo "user and group created above"; fi ;;
        :*) echo "user created above" ;;
        *:) echo "group created above" ;;
    esac
}
# --prefix for the shadow tools (useradd, usermod, ...) when working under a root.
shadow_prefix() { if on_host; then :; else echo "--prefix=$ROOT"; fi; }

# Owner and mode of an existing path: fix them when they differ. A link is followed on
# the host; under --root its target may be the host's: it is left alone.
fix_meta() { # path mode owner group
    local path=$1 mode=$2 owner=$3 group=$4 p cur ids pending
    p=$(r "$path")
    if [ -L "$p" ]; then
        if ! on_host; then
            warn "$path is a link: its owner and mode are left alone under --root"
            return 0
        fi
        [ -e "$p" ] || { warn "$path is a link to nothing: left alone"; return 0; }
    fi
    [ -e "$p" ] || return 0
    cur=$(stat -L -c '%a' "$p")
    if [ $((8#$cur)) -ne $((8#$mode)) ]; then
        change "chmod $mode $path" && chmod "$mode" "$p"
    fi
    ids=$(owner_ids "$owner" "$group")
    if [ "$(stat -L -c '%u:%g' "$p")" != "$ids" ]; then
        pending=$(pending_accounts "$owner" "$group")
        change "chown $owner:$group $path${pending:+ ($pending)}" && chown "$ids" "$p"
    fi
    return 0
}

# Sets OTHERS to find(1)'s arguments for what is inside folder path and not owned by ids
# ("uid:gid", from owner_ids), but the folder skip and what is in it. An account a dry
# run has yet to add owns nothing.
others_args() { # path ids skip (or "")
    OTHERS=("$(r "$1")" -xdev -mindepth 1)
    [ -z "$3" ] || OTHERS+=(-path "$(r "${3%/}")" -prune -o)
    if [ -n "${2%:*}" ] && [ -n "${2#*:}" ]; then
        OTHERS+=(\( ! -uid "${2%:*}" -o ! -gid "${2#*:}" \))
    else
        OTHERS+=(-true)
    fi
}
# How many files and folders inside a folder belong to others than owner:group.
count_others() { # path owner group skip (or "")
    local ids
    if [ ! -d "$(r "$1")" ] || [ -L "$(r "$1")" ]; then
        echo 0
        return 0
    fi
    ids=$(owner_ids "$2" "$3")
    others_args "$1" "$ids" "$4"
    find "${OTHERS[@]}" -printf . | wc -c
}

# Hand what is inside an existing folder to owner:group (files root or someone else left
# there, such as a store an earlier `mw-tui` run as root made), but the folder skip.
hand_over() { # path owner group skip (or "")
    local path=$1 owner=$2 group=$3 skip=$4 ids count pending
    count=$(count_others "$path" "$owner" "$group" "$skip")
    [ "$count" -gt 0 ] || return 0
    pending=$(pending_accounts "$owner" "$group")
    change "chown -R $owner:$group $path (files and folders in it that belong to others:" \
           "$count${pending:+; $pending})" || return 0
    ids=$(owner_ids "$owner" "$group")
    others_args "$path" "$ids" "$skip"
    find "${OTHERS[@]}" -exec chown -h "$ids" {} +
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
    local path=$1 mode=$2 owner=$3 group=$4 ids
    if [ -n "${PLANNED_DIRS[$path]:-}" ] && [ ! -d "$(r "$path")" ]; then
        return 0
    fi
    if [ ! -d "$(r "$path")" ]; then
        ensure_parent "$path"
        PLANNED_DIRS[$path]=1
        if change "create folder $path ($mode $owner:$group)"; then
            ids=$(owner_ids "$owner" "$group")
            mkdir -p "$(r "$path")"
            chmod "$mode" "$(r "$path")"
            chown "$ids" "$(r "$path")"
        fi
        return 0
    fi
    fix_meta "$path" "$mode" "$owner" "$group"
}

# A file this project owns, from a source file: written when its content differs.
install_file() { # source path mode owner group
    local src=$1 path=$2 mode=$3 owner=$4 group=$5 p ids
    p=$(r "$path")
    if [ -f "$p" ] && [ ! -L "$p" ] && cmp -s "$src" "$p"; then
        fix_meta "$path" "$mode" "$owner" "$group"
        return 0
    fi
    ensure_parent "$path"
    local what=create
    [ -e "$p" ] && what=update
    if change "$what $path ($mode $owner:$group)"; then
        ids=$(owner_ids "$owner" "$group")
        install -m "$mode" -o "${ids%:*}" -g "${ids#*:}" "$src" "$p"
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
