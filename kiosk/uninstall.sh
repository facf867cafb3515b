#!/bin/bash
# kiosk/uninstall.sh: remove what kiosk/install.sh added (run as root).
#
# Stops and disables the units, gives tty1 its login prompt back, removes the units, the
# udev and polkit rules, the venv and scripts, and restores the console font. The
# studies, the configuration, the logs, the station's user and the support group are
# kept unless --purge is given.
#
# usage: kiosk/uninstall.sh [options]
#   --dry-run        print every change, make none
#   --root DIR       uninstall from DIR instead of this machine (as install.sh --root)
#   --prefix DIR     where install.sh put the venv and scripts [/opt/mw-tui]
#   --purge          also delete the studies (/var/lib/mw-tui), the configuration
#                    (/etc/mw-tui), the logs (/var/log/mw-tui), the user and the group
#   --yes            do not ask before --purge deletes the studies
set -Eeuo pipefail
umask 022
PROG=uninstall.sh
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$HERE/lib.sh"

ROOT=${DESTDIR:-/}
[ -n "$ROOT" ] || ROOT=/
PREFIX=/opt/mw-tui
PURGE=""
YES=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) [ $# -ge 2 ] || die "--root needs a value"; ROOT=$2; shift ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; PREFIX=$2; shift ;;
        --purge) PURGE=1 ;;
        --yes) YES=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
check_abs_path --prefix "$PREFIX"
if [ "$ROOT" != / ]; then
    ROOT=$(readlink -m "$ROOT")
    [ -d "$ROOT" ] || die "--root $ROOT is not a folder"
fi
[ -z "$DRY_RUN" ] && [ "$(id -u)" -ne 0 ] && die "run as root (or try --dry-run)"

SHARE=$PREFIX/share/mw-tui
KIOSK_USER=mwtui
SUPPORT_GROUP=mwsupport
if [ -f "$(r "$SHARE/install.env")" ]; then
    KIOSK_USER=$(sed -n 's/^KIOSK_USER=//p' "$(r "$SHARE/install.env")")
    SUPPORT_GROUP=$(sed -n 's/^SUPPORT_GROUP=//p' "$(r "$SHARE/install.env")")
    check_name user "$KIOSK_USER"
    check_name group "$SUPPORT_GROUP"
elif [ -d "$(r "$PREFIX")" ]; then
    warn "no $SHARE/install.env: assuming user $KIOSK_USER and group $SUPPORT_GROUP"
fi
UNIT_DIR=/etc/systemd/system
UNITS=(mw-tui-kiosk.service mw-tui-receiver.service mw-tui-web.service)
CONSOLE_SETUP=/etc/default/console-setup

if [ -n "$PURGE" ] && [ -z "$YES" ] && [ -z "$DRY_RUN" ]; then
    [ -t 0 ] || die "--purge deletes every study in /var/lib/mw-tui: add --yes to confirm"
    read -r -p "Delete every study in /var/lib/mw-tui, the configuration and the logs? [y/N] " answer
    [[ "$answer" =~ ^[yY] ]] || die "nothing removed"
fi

# -- units -------------------------------------------------------------------------------
step_units() {
    local unit
    for unit in "${UNITS[@]}"; do
        if systemd_running && systemctl is-active --quiet "$unit"; then
            run_host systemctl stop "$unit"
        fi
        if [ -e "$(r "$UNIT_DIR/$unit")" ] && is_enabled "$unit"; then
            change "disable $unit" && sysctl_root disable --quiet "$unit"
        fi
    done
    if [ -e "$(r "$SHARE/getty-tty1.enabled")" ] && ! is_enabled getty@tty1.service; then
        change "enable getty@tty1.service (a login prompt on tty1 again)" &&
            sysctl_root enable --quiet getty@tty1.service
    fi
    for unit in "${UNITS[@]}"; do
        remove_path "$UNIT_DIR/$unit"
        remove_path "$UNIT_DIR/$unit.d/10-mw-tui-storage.conf"
        remove_empty_dir "$UNIT_DIR/$unit.d"
    done
    remove_path /etc/udev/rules.d/85-mw-tui.rules
    remove_path /etc/polkit-1/rules.d/50-mw-tui.rules
}

# -- console font: back to what it was, unless someone changed it since ------------------
step_font() {
    local backup file
    backup=$(r "$SHARE/console-setup.orig")
    file=$(r "$CONSOLE_SETUP")
    if [ ! -f "$backup" ] || [ ! -f "$file" ] || ! grep -qx 'FONTFACE="TerminusBold"' "$file"
    then
        return 0
    fi
    if grep -q '^# no /etc/default/console-setup before mw-tui' "$backup"; then
        remove_path "$CONSOLE_SETUP"
    else
        sed -e '/^FONTFACE=/d' -e '/^FONTSIZE=/d' "$file" > "$TMP/console-setup"
        cat "$backup" >> "$TMP/console-setup"
        if ! cmp -s "$TMP/console-setup" "$file"; then
            change "restore the console font in $CONSOLE_SETUP" &&
                cat "$TMP/console-setup" > "$file"
        fi
    fi
    FONT_CHANGED=1
}

# -- the app ------------------------------------------------------------------------------
step_app() {
    local link
    for link in /usr/local/bin/mw-tui /usr/local/bin/mw-tui-attach; do
        if [ -L "$(r "$link")" ] && [[ "$(readlink "$(r "$link")")" == "$PREFIX"/* ]]; then
            remove_path "$link"
        fi
    done
    remove_tree "$PREFIX/venv"
    remove_path "$PREFIX/bin/mw-tui-kiosk"
    remove_path "$PREFIX/bin/mw-tui-attach"
    remove_tree "$SHARE"
    remove_empty_dir "$PREFIX/bin"
    remove_empty_dir "$PREFIX/share"
    remove_empty_dir "$PREFIX"
}

# -- the running system -------------------------------------------------------------------
step_reload() {
    [ "$CHANGES" -gt 0 ] || return 0
    if systemd_running; then
        run_host systemctl daemon-reload
    fi
    if on_host && command -v udevadm >/dev/null; then
        run_host udevadm control --reload
        run_host udevadm trigger --subsystem-match=block --action=change
    fi
    if [ -n "${FONT_CHANGED:-}" ] && on_host && command -v setupcon >/dev/null; then
        run_host setupcon --save-only
    fi
}

# -- data, configuration, accounts ------------------------------------------------------
step_data() {
    local kept=() path listed
    if [ -n "$PURGE" ]; then
        remove_tree /var/lib/mw-tui
        remove_tree /etc/mw-tui
        remove_tree /var/log/mw-tui
        if user_exists "$KIOSK_USER"; then
            # shellcheck disable=SC2046
            change "delete user $KIOSK_USER" && userdel $(shadow_prefix) "$KIOSK_USER"
        fi
        if group_exists "$KIOSK_USER"; then
            # shellcheck disable=SC2046
            change "delete group $KIOSK_USER" && groupdel $(shadow_prefix) "$KIOSK_USER"
        fi
        if group_exists "$SUPPORT_GROUP"; then
            # shellcheck disable=SC2046
            change "delete group $SUPPORT_GROUP" &&
                groupdel $(shadow_prefix) "$SUPPORT_GROUP"
        fi
        note "a station.storage outside /var/lib/mw-tui, if you set one, is left in place"
        return 0
    fi
    for path in /var/lib/mw-tui /etc/mw-tui /var/log/mw-tui; do
        [ ! -e "$(r "$path")" ] || kept+=("$path")
    done
    ! user_exists "$KIOSK_USER" || kept+=("user $KIOSK_USER")
    ! group_exists "$SUPPORT_GROUP" || kept+=("group $SUPPORT_GROUP")
    if [ ${#kept[@]} -gt 0 ]; then
        listed=$(printf '%s, ' "${kept[@]}")
        note "kept: ${listed%, } (--purge removes them)"
    fi
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
note "removing mw-tui from ${ROOT%/}$PREFIX${DRY_RUN:+ (dry run: nothing is changed)}"
step_units
step_font
step_app
step_reload
step_data
if [ "$CHANGES" -eq 0 ]; then
    note "nothing to remove"
elif [ -n "$DRY_RUN" ]; then
    note "$CHANGES change(s) to make (dry run: none made)"
else
    note "done: $CHANGES change(s)"
fi
