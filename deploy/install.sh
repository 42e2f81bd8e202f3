#!/bin/sh
# Installs booking-monitor as a systemd service. From the repository, as root,
# after `cargo build --release`:
#
#   deploy/install.sh
#
# It creates the system user and group `booking-monitor`, installs the binary,
# /etc/booking-monitor/{config.toml,env} (kept if they exist), the data directory
# /var/lib/booking-monitor, the README and docs/ (the unit's Documentation=) and the unit. It starts nothing: fill in the config and
# the tokens first (the last lines it prints say how).
#
#   DESTDIR=/some/root   install under a scratch root (packaging, the tests)
#   BIN=path             the binary to install (default target/release/booking-monitor)
#   --no-users           do not create the user and group, nor give them files
#                        (the tests, or a root-less packaging run)
set -eu

cd "$(dirname "$0")/.."
DESTDIR=${DESTDIR:-}
BIN=${BIN:-target/release/booking-monitor}
USER_NAME=booking-monitor
DATA=/var/lib/booking-monitor
ETC=/etc/booking-monitor

users=yes
for arg in "$@"; do
    case "$arg" in
        --no-users) users=no ;;
        *) echo "install.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

if [ ! -x "$BIN" ]; then
    echo "install.sh: no binary at $BIN: run cargo build --release first, or set BIN" >&2
    exit 1
fi

# Who owns what: the daemon's user its data directory; root the rest, readable
# by the daemon's group where the daemon must read it.
owner=""
group=""
if [ "$users" = yes ]; then
    getent group "$USER_NAME" >/dev/null || groupadd --system "$USER_NAME"
    getent passwd "$USER_NAME" >/dev/null ||
        useradd --system --gid "$USER_NAME" --home-dir "$DATA" --no-create-home \
            --shell /usr/sbin/nologin --comment "booking-monitor daemon" "$USER_NAME"
    owner="-o $USER_NAME -g $USER_NAME"
    group="-g $USER_NAME"
fi

install -d -m 0755 "$DESTDIR/usr/local/bin"
install -m 0755 "$BIN" "$DESTDIR/usr/local/bin/booking-monitor"

# shellcheck disable=SC2086 # $owner and $group are empty or two words on purpose
install -d -m 0750 $group "$DESTDIR$ETC"
if [ ! -e "$DESTDIR$ETC/config.toml" ]; then
    # shellcheck disable=SC2086
    install -m 0640 $group deploy/config.production.toml "$DESTDIR$ETC/config.toml"
fi
if [ ! -e "$DESTDIR$ETC/env" ]; then
    # The tokens; systemd reads it as root (EnvironmentFile), so root only.
    install -m 0600 /dev/null "$DESTDIR$ETC/env"
fi

# shellcheck disable=SC2086
install -d -m 0700 $owner "$DESTDIR$DATA"

# The unit's Documentation= names the README; its links lead into docs/.
install -D -m 0644 README.md "$DESTDIR/usr/local/share/doc/booking-monitor/README.md"
install -d -m 0755 "$DESTDIR/usr/local/share/doc/booking-monitor/docs"
install -m 0644 docs/*.md "$DESTDIR/usr/local/share/doc/booking-monitor/docs/"

install -d -m 0755 "$DESTDIR/etc/systemd/system"
install -m 0644 deploy/booking-monitor.service "$DESTDIR/etc/systemd/system/booking-monitor.service"

# Step 2 runs check as the daemon's user (its rights, its view of the files)
# while the env file stays root's: root's shell opens it and hands it over as
# stdin. runuser is util-linux's (on every Debian); sudo need not be installed.
cat <<NEXT
Installed under ${DESTDIR:-/}. Next:
  1. edit $ETC/config.toml (company ids, provider) and put the tokens in $ETC/env, one per line:
       YCLIENTS_PARTNER_TOKEN=...  YCLIENTS_USER_TOKEN=...  WHATSAPP_ACCESS_TOKEN=...  BOOKING_MONITOR_HTTP_TOKEN=...
  2. runuser -u $USER_NAME -- /usr/local/bin/booking-monitor check --config $ETC/config.toml --env-file - < $ETC/env
  3. systemctl daemon-reload && systemctl enable --now booking-monitor
NEXT
