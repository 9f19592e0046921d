#!/bin/sh
# The one list of Debian packages Tern needs to build, test and run.
# Installs whatever is missing when run as root; otherwise only reports.
set -eu
PKGS="build-essential pkg-config clang libev-dev libexpat1-dev libssl-dev
libgsasl-dev libidn-dev libsqlite3-dev libyaml-dev libcmocka-dev libunbound-dev
libhttp-parser-dev libwslay-dev libqrencode-dev
python3 python3-pytest python3-pytest-xdist python3-slixmpp python3-cryptography openssl sqlite3 valgrind
profanity mcabber go-sendxmpp sendxmpp poezio python3-nbxmpp tmux
clang-format"
# The browser test (tests/integration/test_browser.py): headless Chromium
# runs Converse.js, which npm fetches once into build/npm/.
PKGS="$PKGS chromium"
# Federation interop tests (tests/integration/fedlib.py): peers and DNS.
# lua-unbound is only a Recommends of prosody, but without it Prosody
# cannot be pointed at a resolver on a non-standard port.
FED_PKGS="prosody lua-unbound ejabberd unbound"
# Their Debian services must not start: the tests run their own instances
# on free ports, and a system unbound would take over port 53 (and, with
# unbound-resolvconf, /etc/resolv.conf).
FED_SERVICES="prosody ejabberd unbound unbound-resolvconf coturn"
# XEP-0215 test (tests/integration/test_extdisco.py): a TURN server that
# checks the credentials the server hands out.
TURN_PKGS="coturn"
PKGS="$PKGS $FED_PKGS $TURN_PKGS"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# npm may come with a nodejs from elsewhere than Debian: only a missing
# npm command asks for Debian's package
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101: maintainer scripts (invoke-rc.d, deb-systemd-invoke)
# start no service while we install
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	ours=1
fi
rc=0
apt-get install -y -q --no-install-recommends $missing >/dev/null ||
	{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; } ||
	rc=$?
[ -n "$ours" ] && rm -f "$policy"
[ "$rc" = 0 ] || exit "$rc"
# and none starts at the next boot either (or now, if one already ran)
for s in $FED_SERVICES; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$s" >/dev/null 2>&1 || true
	fi
	if [ -x "/etc/init.d/$s" ]; then
		update-rc.d "$s" disable >/dev/null 2>&1 || true
	fi
done
