#!/bin/bash
# kiosk/install.sh: make this Debian 12 machine an mw-tui station (run as root).
#
# Installs the app from this checkout into a venv, creates the station's user, its
# folders and its configuration, the udev, polkit and tmux set-up, a console font, and
# enables the kiosk on tty1. Idempotent: a second run changes nothing; every change is
# printed as it is made.
#
# usage: kiosk/install.sh [options]
#   --dry-run            print every change, make none
#   --root DIR           install under DIR (a scratch or debootstrap'ed root) instead of
#                        this machine: files and accounts are written there, commands for
#                        the running system (systemctl start, udevadm, apt-get) are only
#                        printed. Also read from $DESTDIR.
#   --prefix DIR         where the venv and the scripts go [/opt/mw-tui]
#   --user NAME          the station's unprivileged user [mwtui]
#   --support-group NAME members may attach to the kiosk session over SSH [mwsupport]
#   --support-user NAME  add this existing user to the support group (repeatable)
#   --headless           enable the station without screens (mw-tui-receiver.service:
#                        receiver and jobs), no kiosk
#   --no-enable          install the units without enabling any
#   --now                also start the enabled unit (otherwise: at the next boot)
#   --font SIZE|auto|keep  console font TerminusBold SIZE (8x16 ... 16x32); auto (default)
#                        picks the largest that still gives at least 80x24 on the screen
#   --wheelhouse DIR     install Python packages from DIR only (no index; for stations
#                        without internet: fill DIR elsewhere with
#                        `pip wheel -c constraints.txt -w DIR .`)
#   --python PATH        the Python that makes the venv [/usr/bin/python3, Debian's]
#   --no-packages        do not install missing Debian packages
set -Eeuo pipefail
umask 022
PROG=install.sh
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
SRC=$(dirname "$HERE")
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$HERE/lib.sh"

ROOT=${DESTDIR:-/}
[ -n "$ROOT" ] || ROOT=/
PREFIX=/opt/mw-tui
KIOSK_USER=mwtui
SUPPORT_GROUP=mwsupport
SUPPORT_USERS=()
MAIN_UNIT=mw-tui-kiosk.service
ENABLE=yes
START=""
FONT=auto
WHEELHOUSE=""
PACKAGES=yes
PYTHON=/usr/bin/python3

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
need_arg() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) need_arg "$@"; ROOT=$2; shift ;;
        --prefix) need_arg "$@"; PREFIX=$2; shift ;;
        --user) need_arg "$@"; KIOSK_USER=$2; shift ;;
        --support-group) need_arg "$@"; SUPPORT_GROUP=$2; shift ;;
        --support-user) need_arg "$@"; SUPPORT_USERS+=("$2"); shift ;;
        --headless) MAIN_UNIT=mw-tui-receiver.service ;;
        --no-enable) ENABLE="" ;;
        --now) START=1 ;;
        --font) need_arg "$@"; FONT=$2; shift ;;
        --wheelhouse) need_arg "$@"; WHEELHOUSE=$(readlink -m "$2"); shift ;;
        --python) need_arg "$@"; PYTHON=$2; shift ;;
        --no-packages) PACKAGES="" ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

check_abs_path --prefix "$PREFIX"
check_name --user "$KIOSK_USER"
check_name --support-group "$SUPPORT_GROUP"
if [ "$ROOT" != / ]; then
    ROOT=$(readlink -m "$ROOT")
    [ -d "$ROOT" ] || die "--root $ROOT is not a folder"
    if [ ! -f "$ROOT/etc/passwd" ] || [ ! -f "$ROOT/etc/group" ]; then
        die "--root $ROOT has no etc/passwd and etc/group (copy a system's, or debootstrap)"
    fi
fi
for u in "${SUPPORT_USERS[@]}"; do
    check_name --support-user "$u"
    user_exists "$u" || die "--support-user $u: no such user (create it first)"
done
[ -z "$DRY_RUN" ] && [ "$(id -u)" -ne 0 ] && die "run as root (or try --dry-run)"
if [ ! -f "$SRC/pyproject.toml" ] || [ ! -d "$SRC/mw_tui" ]; then
    die "$SRC is not an mw-tui checkout"
fi
case "$FONT" in
    auto|keep|8x14|8x16|10x20|12x24|14x28|16x32) ;;
    *) die "--font $FONT: use auto, keep or one of 8x14 8x16 10x20 12x24 14x28 16x32" ;;
esac
[ -z "$WHEELHOUSE" ] || [ -d "$WHEELHOUSE" ] || die "--wheelhouse $WHEELHOUSE is not a folder"

SHARE=$PREFIX/share/mw-tui
VENV=$PREFIX/venv
CONFIG_DIR=/etc/mw-tui
CONFIG=$CONFIG_DIR/config.toml
STATE_DIR=/var/lib/mw-tui
LOG_DIR=/var/log/mw-tui
UNIT_DIR=/etc/systemd/system
UNITS=(mw-tui-kiosk.service mw-tui-receiver.service mw-tui-web.service)
UDEV_RULE=/etc/udev/rules.d/85-mw-tui.rules
POLKIT_RULE=/etc/polkit-1/rules.d/50-mw-tui.rules
CONSOLE_SETUP=/etc/default/console-setup
# Debian packages the station needs at run time (the test suite's peers are not here).
RUNTIME_PACKAGES=(python3 python3-venv tmux udev udisks2 polkitd dbus console-setup kbd
                  xorriso dosfstools openssh-server cups-client fonts-dejavu-core)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

render() { # template -> a file in TMP with the @...@ values filled in
    local out
    out="$TMP/$(basename "$1").rendered"
    sed -e "s#@PREFIX@#$PREFIX#g" -e "s#@USER@#$KIOSK_USER#g" \
        -e "s#@SUPPORT_GROUP@#$SUPPORT_GROUP#g" "$1" > "$out"
    echo "$out"
}

# -- Debian packages ---------------------------------------------------------------------

step_packages() {
    [ -n "$PACKAGES" ] || return 0
    if ! on_host; then
        echo "skipped under --root: checking Debian packages (${RUNTIME_PACKAGES[*]})"
        return 0
    fi
    local missing=() p
    for p in "${RUNTIME_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    run_host env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    run_host env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"
}

# -- accounts ----------------------------------------------------------------------------

step_accounts() {
    local g u
    for g in cdrom plugdev; do
        group_exists "$g" || die "group $g is missing from $(r /etc/group) (Debian has it)"
    done
    if ! group_exists "$SUPPORT_GROUP"; then
        plan_account group "$SUPPORT_GROUP"
        # shellcheck disable=SC2046
        change "add system group $SUPPORT_GROUP (may attach to the kiosk over SSH)" &&
            groupadd $(shadow_prefix) --system "$SUPPORT_GROUP"
    fi
    if ! user_exists "$KIOSK_USER"; then
        # its own group: made with it, or the one of that name left from before
        local own_group=(--user-group)
        if group_exists "$KIOSK_USER"; then
            own_group=(--gid "$KIOSK_USER")
        else
            plan_account group "$KIOSK_USER"
        fi
        plan_account user "$KIOSK_USER"
        # shellcheck disable=SC2046
        change "add system user $KIOSK_USER (home $STATE_DIR, no login shell, groups" \
               "cdrom plugdev)" &&
            useradd $(shadow_prefix) --system "${own_group[@]}" --home-dir "$STATE_DIR" \
                --no-create-home --shell /usr/sbin/nologin --comment "mw-tui station" \
                --groups cdrom,plugdev "$KIOSK_USER"
    else
        for g in cdrom plugdev; do
            # shellcheck disable=SC2046
            in_group "$KIOSK_USER" "$g" || { change "add $KIOSK_USER to group $g" &&
                usermod $(shadow_prefix) --append --groups "$g" "$KIOSK_USER"; }
        done
    fi
    for u in "${SUPPORT_USERS[@]}"; do
        # shellcheck disable=SC2046
        in_group "$u" "$SUPPORT_GROUP" || { change "add $u to group $SUPPORT_GROUP" &&
            usermod $(shadow_prefix) --append --groups "$SUPPORT_GROUP" "$u"; }
    done
    return 0
}

# -- the app: a venv with mw-tui from this checkout ----------------------------------------

source_fingerprint() {
    (cd "$SRC" && find mw_tui pyproject.toml README.md -type f \
        -not -path '*/__pycache__/*' -not -name '*.pyc' | LC_ALL=C sort |
        xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1)
}

step_venv() {
    local venv stamp fingerprint pip_opts=()
    venv=$(r "$VENV")
    stamp="$venv/.mw-tui-source"
    fingerprint=$(source_fingerprint)
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ]
    then
        return 0
    fi
    change "install mw-tui from $SRC into $VENV (python3 -m venv, pip install)" || return 0
    ensure_parent "$VENV"
    if [ ! -x "$venv/bin/python" ]; then
        [ -x "$PYTHON" ] || die "$PYTHON is missing (apt-get install python3-venv)"
        "$PYTHON" -m venv "$venv" ||
            die "could not create the venv $VENV with $PYTHON (apt-get install python3-venv)"
    fi
    [ -n "$WHEELHOUSE" ] && pip_opts=(--no-index --find-links "$WHEELHOUSE")
    # the versions the test suite ran with (constraints.txt), not whatever is newest today
    PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check --upgrade "${pip_opts[@]}" \
        -c "$SRC/constraints.txt" "$SRC" ||
        die "pip could not install mw-tui into $VENV (see above; without internet, use" \
            "--wheelhouse DIR)"
    if ! on_host; then
        # A venv records its own path: make it the path it has on the target system.
        local named
        named=$(grep -rlF -- "$venv" "$venv/bin" "$venv/pyvenv.cfg" || [ $? -eq 1 ])
        [ -z "$named" ] || xargs -d '\n' sed -i "s#$venv#$VENV#g" <<< "$named"
    fi
    echo "$fingerprint" > "$stamp"
}

# Run the installed app (also under --root, where the venv's own paths are the target's).
app() {
    PYTHONDONTWRITEBYTECODE=1 MW_TUI_CONFIG="" "$(r "$VENV")/bin/python" -m mw_tui "$@"
}

# A new configuration's settings for a kiosk: the station runs unprivileged (and with
# NoNewPrivileges), so it mounts sticks through udisks2 (polkit rule 50-mw-tui.rules), not
# with mount(8). Written with the app's own editor, which keeps the comments.
kiosk_defaults() { # config path
    PYTHONDONTWRITEBYTECODE=1 "$(r "$VENV")/bin/python" - "$1" <<'PY'
import dataclasses
import sys
from pathlib import Path

from mw_tui import config

fields = {f.name for f in dataclasses.fields(getattr(config, "DevicesConfig", object))
          } if hasattr(config, "DevicesConfig") else set()
if {"usb_mount_command", "usb_unmount_command"} <= fields:
    f = config.ConfigFile(Path(sys.argv[1]))
    f.set("devices", "usb_mount_command",
          "udisksctl mount --no-user-interaction -b {device}")
    f.set("devices", "usb_unmount_command",
          "udisksctl unmount --no-user-interaction -b {device}")
    f.save()
PY
}

# -- files -------------------------------------------------------------------------------

step_files() {
    local unit
    ensure_dir "$PREFIX" 0755 root root
    ensure_dir "$PREFIX/bin" 0755 root root
    ensure_dir "$PREFIX/share" 0755 root root
    ensure_dir "$SHARE" 0755 root root
    install_file "$(render "$HERE/mw-tui-kiosk")" "$PREFIX/bin/mw-tui-kiosk" 0755 root root
    install_file "$(render "$HERE/mw-tui-attach")" "$PREFIX/bin/mw-tui-attach" 0755 root root
    install_file "$HERE/tmux.conf" "$SHARE/tmux.conf" 0644 root root
    install_file "$SRC/README.md" "$SHARE/README.md" 0644 root root
    # What uninstall.sh needs to know.
    printf 'PREFIX=%s\nKIOSK_USER=%s\nSUPPORT_GROUP=%s\n' "$PREFIX" "$KIOSK_USER" \
        "$SUPPORT_GROUP" > "$TMP/install.env"
    install_file "$TMP/install.env" "$SHARE/install.env" 0644 root root
    if [ "$PREFIX/bin" != /usr/local/bin ]; then
        ensure_link /usr/local/bin/mw-tui-attach "$PREFIX/bin/mw-tui-attach"
    fi
    ensure_link /usr/local/bin/mw-tui "$VENV/bin/mw-tui"
    for unit in "${UNITS[@]}"; do
        install_file "$(render "$SRC/systemd/$unit")" "$UNIT_DIR/$unit" 0644 root root
    done
    install_file "$HERE/udev/85-mw-tui.rules" "$UDEV_RULE" 0644 root root
    install_file "$(render "$HERE/polkit/50-mw-tui.rules")" "$POLKIT_RULE" 0644 root root
}

# -- configuration and folders -----------------------------------------------------------

step_config() {
    local storage="" unit dropin problems others
    # The station rewrites its configuration from the Settings screen (a temp file and a
    # rename in this folder), hence group write; setgid, so that a file root rewrites
    # (mw-tui admin-pin, config init --force) stays the station's group; it may hold
    # credentials: nothing for others.
    ensure_dir "$CONFIG_DIR" 2770 root "$KIOSK_USER"
    if [ ! -e "$(r "$CONFIG")" ]; then
        if change "create $CONFIG (mw-tui config init; sticks mounted through udisks2)"
        then
            app config init "$(r "$CONFIG")" >/dev/null
            kiosk_defaults "$(r "$CONFIG")"
        fi
    elif [ -x "$(r "$VENV")/bin/python" ]; then
        problems=$(app --config "$(r "$CONFIG")" config check 2>&1) ||
            warn "$CONFIG is not valid; the station will not start until it is fixed:" \
                 "$(echo; echo "$problems")"
    fi
    fix_meta "$CONFIG" 0660 "$KIOSK_USER" "$KIOSK_USER"
    if [ -r "$(r "$CONFIG")" ] && [ -x "$(r "$VENV")/bin/python" ]; then
        storage=$(PYTHONDONTWRITEBYTECODE=1 "$(r "$VENV")/bin/python" -c 'import sys
from mw_tui import config
print(config.load(sys.argv[1]).station.storage)' "$(r "$CONFIG")" 2>/dev/null || true)
    fi
    [ -n "$storage" ] || storage=$STATE_DIR/store
    check_abs_path station.storage "$storage"
    # Everything in the station's folders is the station's: an `mw-tui` run as root
    # before may have left a store of root's there, which the station could not open.
    ensure_dir "$STATE_DIR" 0700 "$KIOSK_USER" "$KIOSK_USER"
    hand_over "$STATE_DIR" "$KIOSK_USER" "$KIOSK_USER" "$storage"
    ensure_dir "$storage" 0700 "$KIOSK_USER" "$KIOSK_USER"
    case "$storage/" in
        "$STATE_DIR"/*) hand_over "$storage" "$KIOSK_USER" "$KIOSK_USER" "" ;;
        *)  # a folder the administrator chose: only told
            others=$(count_others "$storage" "$KIOSK_USER" "$KIOSK_USER" "")
            [ "$others" -eq 0 ] || warn "$others file(s) and folder(s) in $storage belong to" \
                "others: the station cannot open them (chown -R $KIOSK_USER:$KIOSK_USER" \
                "$storage, if they are the station's)" ;;
    esac
    ensure_dir "$LOG_DIR" 0750 "$KIOSK_USER" "$KIOSK_USER"
    hand_over "$LOG_DIR" "$KIOSK_USER" "$KIOSK_USER" ""
    # ProtectSystem=strict: a store outside /var/lib/mw-tui must be made writable.
    for unit in "${UNITS[@]}"; do
        dropin=$UNIT_DIR/$unit.d/10-mw-tui-storage.conf
        case "$storage/" in
            "$STATE_DIR"/*) remove_path "$dropin"; remove_empty_dir "$UNIT_DIR/$unit.d" ;;
            *)
                printf '# Written by kiosk/install.sh: station.storage is outside %s.\n[Service]\nReadWritePaths=%s\n' \
                    "$STATE_DIR" "$storage" > "$TMP/storage.conf"
                install_file "$TMP/storage.conf" "$dropin" 0644 root root ;;
        esac
    done
}

# -- console font ------------------------------------------------------------------------

# The largest TerminusBold size that still shows at least 80x24 on the framebuffer
# (8x16 when the framebuffer is unknown, as in VGA text mode).
FB_SIZE_FILE=${MW_TUI_FB_SIZE_FILE:-/sys/class/graphics/fb0/virtual_size}
framebuffer_size() { # "W H", or nothing
    local size
    size=$(cat "$FB_SIZE_FILE" 2>/dev/null || true)
    [[ "$size" =~ ^([0-9]+),([0-9]+)$ ]] && echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
    return 0
}
auto_font() {
    local w h size best=8x16
    read -r w h <<< "$(framebuffer_size)"
    [ -n "${w:-}" ] || { echo "$best"; return; }
    for size in 8x16 10x20 12x24 14x28 16x32; do
        [ $((w / ${size%x*})) -ge 80 ] && [ $((h / ${size#*x})) -ge 24 ] && best=$size
    done
    echo "$best"
}
describe_font() { # size
    local w h
    read -r w h <<< "$(framebuffer_size)"
    if [ -n "${w:-}" ]; then
        echo "TerminusBold $1 (framebuffer ${w}x$h: $((w / ${1%x*}))x$((h / ${1#*x})) characters)"
    else
        echo "TerminusBold $1 (framebuffer size unknown)"
    fi
}

step_font() {
    [ "$FONT" = keep ] && return 0
    local size file backup new
    size=$FONT
    [ "$size" = auto ] && size=$(auto_font)
    local w h
    read -r w h <<< "$(framebuffer_size)"
    if [ -n "${w:-}" ] && { [ $((w / ${size%x*})) -lt 80 ] || [ $((h / ${size#*x})) -lt 24 ]; }
    then
        warn "--font $size leaves less than 80x24 characters on this ${w}x$h screen"
    fi
    file=$(r "$CONSOLE_SETUP")
    backup=$SHARE/console-setup.orig
    # Remember the original font once, for uninstall.sh.
    if [ ! -e "$(r "$backup")" ]; then
        if [ -f "$file" ]; then
            grep -E '^(FONTFACE|FONTSIZE)=' "$file" > "$TMP/console-setup.orig" || true
        else
            echo "# no $CONSOLE_SETUP before mw-tui" > "$TMP/console-setup.orig"
        fi
        install_file "$TMP/console-setup.orig" "$backup" 0644 root root
    fi
    new="$TMP/console-setup"
    if [ -f "$file" ]; then
        sed -e '/^FONTFACE=/d' -e '/^FONTSIZE=/d' "$file" > "$new"
    else
        printf '# CONFIGURATION FILE FOR SETUPCON (written by mw-tui kiosk/install.sh)\n\n' > "$new"
        printf 'ACTIVE_CONSOLES="/dev/tty[1-6]"\nCHARMAP="UTF-8"\nCODESET="guess"\nVIDEOMODE=\n' >> "$new"
    fi
    printf 'FONTFACE="TerminusBold"\nFONTSIZE="%s"\n' "$size" >> "$new"
    if [ -f "$file" ] && cmp -s "$new" "$file"; then
        return 0
    fi
    note "console font: $(describe_font "$size")"
    install_file "$new" "$CONSOLE_SETUP" 0644 root root
    FONT_CHANGED=1
}

# -- activation --------------------------------------------------------------------------

step_activate() {
    local other
    if [ "$CHANGES" -gt "$CHANGES_BEFORE_FILES" ]; then
        if systemd_running; then
            run_host systemctl daemon-reload
        fi
        if on_host && command -v udevadm >/dev/null; then
            run_host udevadm control --reload
            run_host udevadm trigger --subsystem-match=block --action=change
        fi
    fi
    if [ -n "${FONT_CHANGED:-}" ]; then
        if on_host && command -v setupcon >/dev/null; then
            run_host setupcon --save-only
        fi
        [ -n "$DRY_RUN" ] || note "the console font applies at the next boot"
    fi
    [ -n "$ENABLE" ] || return 0
    for other in mw-tui-kiosk.service mw-tui-receiver.service; do
        [ "$other" = "$MAIN_UNIT" ] && continue
        if is_enabled "$other"; then
            change "disable $other" && sysctl_root disable --quiet "$other"
        fi
    done
    if ! is_enabled "$MAIN_UNIT"; then
        change "enable $MAIN_UNIT" && sysctl_root enable --quiet "$MAIN_UNIT"
    fi
    if [ "$MAIN_UNIT" = mw-tui-kiosk.service ] && is_enabled getty@tty1.service; then
        # Both wanted at boot, the kiosk and the login prompt would fight over tty1. The
        # marker tells uninstall.sh to give tty1 its login prompt back.
        printf 'getty@tty1.service was enabled before mw-tui\n' > "$TMP/getty"
        install_file "$TMP/getty" "$SHARE/getty-tty1.enabled" 0644 root root
        change "disable getty@tty1.service (tty1 is the kiosk's)" &&
            sysctl_root disable --quiet getty@tty1.service
    fi
    if [ -n "$START" ]; then
        if systemd_running; then
            run_host systemctl start "$MAIN_UNIT"
        else
            note "--now: systemd is not running here; $MAIN_UNIT starts at the next boot"
        fi
    fi
}

note "installing mw-tui from $SRC into ${ROOT%/}$PREFIX${DRY_RUN:+ (dry run: nothing is changed)}"
step_packages
step_accounts
step_venv
CHANGES_BEFORE_FILES=$CHANGES
step_files
step_config
step_font
step_activate
if [ "$CHANGES" -eq 0 ]; then
    note "nothing to change: the station is installed"
elif [ -n "$DRY_RUN" ]; then
    note "$CHANGES change(s) to make (dry run: none made)"
else
    note "done: $CHANGES change(s)"
    if [ "$MAIN_UNIT" = mw-tui-kiosk.service ] && [ -n "$ENABLE" ] && [ -z "$START" ]; then
        note "the kiosk starts on tty1 at the next boot (or now: systemctl start $MAIN_UNIT)"
    fi
fi
