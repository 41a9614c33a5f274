#!/usr/bin/env bash
# The tests need MariaDB on 127.0.0.1:3306 (root, no password). This kind of machine starts
# it before a session; start it again if it has stopped, and fail clearly if it will not.
set -euo pipefail
ping() { mysqladmin --host=127.0.0.1 --port=3306 --user=root --connect-timeout=2 ping >/dev/null 2>&1; }
ping && exit 0
echo "MariaDB is not answering on 127.0.0.1:3306; starting it" >&2
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
for _ in $(seq 1 30); do ping && exit 0; sleep 1; done
echo "MariaDB did not come up on 127.0.0.1:3306: the database tests cannot run" >&2
exit 1
