#!/bin/sh
# The one list of Debian packages Tern needs to build, test and run.
# Installs whatever is missing when run as root; otherwise only reports.
set -eu
PKGS="build-essential pkg-config clang libev-dev libexpat1-dev libssl-dev
libgsasl-dev libidn-dev libsqlite3-dev libyaml-dev libcmocka-dev
libhttp-parser-dev
python3 python3-pytest python3-slixmpp openssl sqlite3 valgrind
profanity mcabber go-sendxmpp sendxmpp poezio python3-nbxmpp tmux
clang-format"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends $missing >/dev/null ||
	{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
