#!/usr/bin/env bash
# Install LesionViewer's desktop entry and icon for the current user (XDG paths, no root needed).
#
#   packaging/install_desktop_entry.sh                  # menu entry runs `lesionviewer` (pip install)
#   packaging/install_desktop_entry.sh --bundle DIR     # menu entry runs DIR/LesionViewer (PyInstaller app)
#   packaging/install_desktop_entry.sh --uninstall
#
# Files go under ${XDG_DATA_HOME:-~/.local/share}: applications/lesionviewer.desktop and
# icons/hicolor/{256x256,scalable}/apps/lesionviewer.{png,svg}.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
APPS="$DATA_HOME/applications"
ICONS="$DATA_HOME/icons/hicolor"
ENTRY="$APPS/lesionviewer.desktop"

bundle=""
case "${1:-}" in
    --bundle)
        [[ -n "${2:-}" ]] || { echo "usage: $0 [--bundle DIR | --uninstall]" >&2; exit 2; }
        bundle="$(cd "$2" && pwd)"
        [[ -x "$bundle/LesionViewer" ]] || { echo "$bundle/LesionViewer: no such program (build the bundle first)" >&2; exit 1; }
        ;;
    --uninstall)
        rm -f "$ENTRY" "$ICONS/256x256/apps/lesionviewer.png" "$ICONS/scalable/apps/lesionviewer.svg"
        echo "removed the LesionViewer desktop entry and icons from $DATA_HOME"
        exit 0
        ;;
    "") ;;
    *) echo "usage: $0 [--bundle DIR | --uninstall]" >&2; exit 2 ;;
esac

mkdir -p "$APPS" "$ICONS/256x256/apps" "$ICONS/scalable/apps"
install -m 644 "$ROOT/resources/icons/lesionviewer.png" "$ICONS/256x256/apps/lesionviewer.png"
install -m 644 "$ROOT/resources/icons/lesionviewer.svg" "$ICONS/scalable/apps/lesionviewer.svg"

tmp="$(mktemp "$APPS/.lesionviewer.desktop.XXXXXX")"
exec_line="Exec=lesionviewer %F"
tryexec_line="TryExec=lesionviewer"
if [[ -n "$bundle" ]]; then
    # Desktop-entry quoting: the path in double quotes with \ " ` $ backslash-escaped, then every
    # backslash doubled again (the file's own string escaping) and % written as %%.
    program="$bundle/LesionViewer"
    quoted="${program//\\/\\\\}"
    quoted="${quoted//\"/\\\"}"
    quoted="${quoted//\`/\\\`}"
    quoted="${quoted//\$/\\\$}"
    quoted="${quoted//\\/\\\\}"
    quoted="${quoted//%/%%}"
    exec_line="Exec=\"$quoted\" %F"
    tryexec_line="TryExec=$program"
fi
while IFS= read -r line || [[ -n "$line" ]]; do
    case "$line" in
        Exec=*) printf '%s\n' "$exec_line" ;;
        TryExec=*) printf '%s\n' "$tryexec_line" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$ROOT/packaging/lesionviewer.desktop" > "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$ENTRY"  # atomic: a menu never reads half a file

# Refresh the caches where the tools exist; menus pick the entry up without them too, a bit later.
command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true

echo "installed $ENTRY ($(grep '^Exec=' "$ENTRY"))"
