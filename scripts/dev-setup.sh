#!/bin/sh
# Creates ./var/ for `make run`: a dev config for the domain localhost, a
# self-signed certificate and an empty SQLite store (created by ternd).
# Leaves an existing ./var/ alone, so accounts survive between runs.
set -eu
VAR=${VAR:-var}
mkdir -p "$VAR/certs"
if [ ! -f "$VAR/certs/localhost.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 365 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,DNS:*.localhost" \
		-keyout "$VAR/certs/localhost.key" -out "$VAR/certs/localhost.crt" \
		2>/dev/null
	cat "$VAR/certs/localhost.crt" "$VAR/certs/localhost.key" > "$VAR/certs/localhost.pem"
	rm -f "$VAR/certs/localhost.crt" "$VAR/certs/localhost.key"
	chmod 600 "$VAR/certs/localhost.pem"
	echo "dev-setup: made a self-signed certificate for localhost"
fi
if [ ! -f "$VAR/tern.yml" ]; then
	cat > "$VAR/tern.yml" <<'YML'
# Tern development configuration (made by `make run`).
# Reference: docs/configuration.md. Relative paths are relative to this file.
log_level: info
control_socket: ternd.sock
storage:
  backend: sqlite
  path: tern.db
tls:
  cert_dir: certs
listeners:
  - { type: c2s, address: "127.0.0.1", port: 5222 }
  - { type: c2s, address: "::1", port: 5222 }
  - { type: c2s_tls, address: "127.0.0.1", port: 5223 }
  - { type: c2s_tls, address: "::1", port: 5223 }
  - { type: component, address: "127.0.0.1", port: 5347 }
  # HTTP: file upload, WebSocket, BOSH, host-meta; /metrics on the plain
  # loopback port only
  - { type: http, address: "127.0.0.1", port: 5280, metrics: true }
  - { type: https, address: "127.0.0.1", port: 5281 }
hosts:
  - name: localhost
    # every module is listed in docs/configuration.md (Modules)
    modules: [disco, ping, time, version, roster, presence, offline,
              blocking, last, vcard, private, register, smacks,
              carbons, mam, csi, push, pep, avatar, bookmarks, adhoc,
              host_meta, invites, spam_report]
    # group chat (docs/operations.md, "Group chat") and file upload
    services:
      - { module: muc, domain: conference.localhost }
      - { module: upload, domain: upload.localhost }
    upload:
      url: "https://localhost:5281/upload"
      dir: uploads
    # web clients find WebSocket and BOSH here (XEP-0156)
    host_meta:
      websocket_url: "wss://localhost:5281/xmpp-websocket"
      bosh_url: "https://localhost:5281/http-bind"
YML
	# without IPv6 on loopback, keep to IPv4
	if ! python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
		sed -i '/"::1"/d' "$VAR/tern.yml"
	fi
	echo "dev-setup: wrote $VAR/tern.yml"
fi
echo "dev-setup: add a user with: build/ternctl -c $VAR/tern.yml adduser you@localhost"
echo "dev-setup: or invite someone (prints a page to open): build/ternctl -c $VAR/tern.yml invite create localhost"
