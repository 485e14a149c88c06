# env.sh: sourced by the other scripts. Resolves Atrium's local settings (the README's
# settings table) to shell variables with the same defaults as platform/config.ReadLocal;
# platform/config's TestShellDefaultsMatch keeps the two equal.
# shellcheck shell=bash

atrium_port_offset=${ATRIUM_PORT_OFFSET:-0}
case $atrium_port_offset in
'' | *[!0-9]*)
	echo "ATRIUM_PORT_OFFSET: want a number, got '$atrium_port_offset'" >&2
	exit 2
	;;
esac

# atrium_port NAME STANDARD prints $NAME, else STANDARD + ATRIUM_PORT_OFFSET.
atrium_port() {
	local v=${!1:-}
	if [ -n "$v" ]; then echo "$v"; else echo $(($2 + atrium_port_offset)); fi
}

ATRIUM_GATEWAY_PORT=$(atrium_port ATRIUM_GATEWAY_PORT 8080)
ATRIUM_TENANCY_PORT=$(atrium_port ATRIUM_TENANCY_PORT 8081)
ATRIUM_CATALOG_PORT=$(atrium_port ATRIUM_CATALOG_PORT 8082)
ATRIUM_ENTITLEMENTS_PORT=$(atrium_port ATRIUM_ENTITLEMENTS_PORT 8083)
ATRIUM_INSIGHTS_PORT=$(atrium_port ATRIUM_INSIGHTS_PORT 8084)
ATRIUM_BILLING_PORT=$(atrium_port ATRIUM_BILLING_PORT 8085)
ATRIUM_SMTP_PORT=$(atrium_port ATRIUM_SMTP_PORT 2525)
ATRIUM_STRIPE_MOCK_PORT=$(atrium_port ATRIUM_STRIPE_MOCK_PORT 12111)
ATRIUM_STRIPE_MOCK_HTTPS_PORT=$(atrium_port ATRIUM_STRIPE_MOCK_HTTPS_PORT 12112)
ATRIUM_WEB_DEV_PORT=$(atrium_port ATRIUM_WEB_DEV_PORT 5173)
ATRIUM_PG_PORT=${ATRIUM_PG_PORT:-5432}
ATRIUM_REDIS_PORT=${ATRIUM_REDIS_PORT:-6379}
ATRIUM_DATABASE_URL=${ATRIUM_DATABASE_URL:-postgres://postgres@127.0.0.1:$ATRIUM_PG_PORT/atrium?sslmode=disable}
ATRIUM_REDIS_URL=${ATRIUM_REDIS_URL:-redis://127.0.0.1:$ATRIUM_REDIS_PORT/0}
ATRIUM_TEST_DATABASE_URL=${ATRIUM_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:$ATRIUM_PG_PORT/postgres?sslmode=disable}
ATRIUM_TEST_REDIS_URL=${ATRIUM_TEST_REDIS_URL:-$ATRIUM_REDIS_URL}

# url_host URL / url_port URL DEFAULT / url_path URL: the parts of a postgres:// or redis://
# URL the scripts need (no user, no password, no query).
url_hostport() {
	local rest=${1#*://}
	rest=${rest%%/*}
	rest=${rest%%\?*}
	echo "${rest##*@}"
}
url_host() {
	local hp
	hp=$(url_hostport "$1")
	hp=${hp%%:*}
	echo "${hp:-127.0.0.1}"
}
url_port() {
	local hp
	hp=$(url_hostport "$1")
	case $hp in
	*:*) echo "${hp##*:}" ;;
	*) echo "$2" ;;
	esac
}
url_path() {
	local rest=${1#*://}
	case $rest in
	*/*) rest=${rest#*/} ;;
	*) rest= ;;
	esac
	echo "${rest%%\?*}"
}

# is_loopback HOST: the scripts only ever start servers on this machine's loopback.
is_loopback() {
	case $1 in
	127.* | localhost | ::1 | '[::1]') return 0 ;;
	*) return 1 ;;
	esac
}
