#!/bin/sh
# The "API": a CGI script served by busybox httpd. It reports which task answered and
# whether the database secret is mounted, without printing it.
if [ -f /run/secrets/db_password ]; then secret=true; else secret=false; fi
echo "Content-Type: application/json"
echo
echo "{\"status\":\"ok\",\"task\":\"$(cat /etc/hostname)\",\"db_host\":\"${DB_HOST}\",\"db_password_mounted\":${secret}}"
