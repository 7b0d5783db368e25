#!/bin/sh
# The "API": a CGI script served by busybox httpd. It reports which task answered and
# whether the database secret is mounted, without printing it.
if [ -f /run/secrets/db_password ]; then secret=true; else secret=false; fi
# The database's address, by its service name (the last "Address" line is the answer's).
db_address=$(busybox nslookup "$DB_HOST" 2>/dev/null | busybox awk '/^Address/ { a = $NF } END { print a }')
echo "Content-Type: application/json"
echo
echo "{\"status\":\"ok\",\"task\":\"$(cat /etc/hostname)\",\"db_host\":\"${DB_HOST}\",\"db_address\":\"${db_address}\",\"db_password_mounted\":${secret}}"
