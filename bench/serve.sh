#!/usr/bin/env bash
# Load benchmark: hacx serve against Debian's nginx serving the files and
# headers "hacx gen --nginx" produces for the same configuration, on
# loopback only. Prints req/s, p99 latency, the ratio hacx/nginx and the
# RSS of hacx serve after at least 1M requests. See bench/README.md.
#
# Needs: go, nginx, wrk, curl (Debian packages nginx, wrk, curl); taskset
# is optional.
# Environment: DURATION (default 10s), CONNS (64), THREADS (2),
# MIN_REQUESTS (1000000), GOAL (0.8).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
MIN_REQUESTS="${MIN_REQUESTS:-1000000}"
GOAL="${GOAL:-0.8}"
NGINX="${NGINX:-/usr/sbin/nginx}"
PATH_="/.well-known/xmpp-client.xml"

for p in "$NGINX" wrk go curl; do
	command -v "$p" >/dev/null || { echo "bench: $p is missing (apt-get install nginx wrk)" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# Two CPUs: the server under test gets CPU 0 (nginx one worker, Go one P),
# wrk gets the rest, so neither server competes with the load generator.
server_cpu=() client_cpu=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	server_cpu=(taskset -c 0)
	client_cpu=(taskset -c "1-$(($(nproc) - 1))")
fi

go build -o "$work/hacx" ./cmd/hacx
go run ./bench/mkcert -out "$work" example.test
cat >"$work/hacx.toml" <<'EOF'
[[domain]]
name = "example.test"
ttl = 300
[[domain.client]]
method = "tls"
ip = "127.0.0.1"
port = 5223
priority = 10
sni = "xmpp.example.test"
alpn = "xmpp-client"
[[domain.client]]
method = "websocket"
ip = "127.0.0.1"
port = 443
priority = 20
url = "wss://example.test/xmpp-websocket"
EOF
"$work/hacx" gen --config "$work/hacx.toml" --out "$work/www" --nginx "$work/nginx-hacx" >/dev/null

{ read -r nginx_port; read -r hacx_port; } < <(go run ./bench/freeport 2)

user=""
[ "$(id -u)" = 0 ] && user="user root;"
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
$user
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	keepalive_requests 100000;
	server {
		listen 127.0.0.1:$nginx_port ssl;
		server_name example.test;
		ssl_certificate $work/cert.pem;
		ssl_certificate_key $work/key.pem;
		include $work/nginx-hacx/example.test.conf;
		location / { return 404; }
	}
}
EOF
"${server_cpu[@]}" "$NGINX" -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

GOMAXPROCS=1 "${server_cpu[@]}" "$work/hacx" serve --config "$work/hacx.toml" \
	--cert "$work/cert.pem" --key "$work/key.pem" \
	--listen "127.0.0.1:$hacx_port" --http-listen "" --poll 0 2>"$work/hacx.log" &
hacx_pid=$!
pids+=($hacx_pid)

wait_port() {
	for _ in $(seq 500); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.02 # poll interval while the server starts
	done
	echo "bench: nothing listens on 127.0.0.1:$1" >&2
	cat "$work/hacx.log" "$work/nginx/error.log" >&2 2>/dev/null || true
	exit 1
}
wait_port "$nginx_port"
wait_port "$hacx_port"

# Both must give the same document before their speed means anything.
for port in "$nginx_port" "$hacx_port"; do
	curl -sk --fail --resolve "example.test:$port:127.0.0.1" "https://example.test:$port$PATH_" >"$work/doc.$port" \
		|| { echo "bench: 127.0.0.1:$port does not serve $PATH_" >&2; exit 1; }
done
cmp -s "$work/doc.$nginx_port" "$work/doc.$hacx_port" || { echo "bench: nginx and hacx serve differ" >&2; exit 1; }

# run_wrk PORT: one wrk run; prints "REQUESTS RPS P99_MS".
run_wrk() {
	local out
	out="$("${client_cpu[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
		-H 'Host: example.test' "https://127.0.0.1:$1$PATH_")"
	echo "$out" >>"$work/wrk.log"
	if echo "$out" | grep -q 'Non-2xx'; then
		echo "bench: non-2xx answers from 127.0.0.1:$1" >&2
		echo "$out" >&2
		exit 1
	fi
	local reqs rps p99
	reqs="$(echo "$out" | awk '/requests in/ {print $1}')"
	rps="$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')"
	p99="$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}')"
	echo "$reqs $rps $p99"
}

read -r _ nginx_rps nginx_p99 < <(run_wrk "$nginx_port")
read -r hacx_reqs hacx_rps hacx_p99 < <(run_wrk "$hacx_port")
total="$hacx_reqs"
# More rounds against hacx serve until it has answered MIN_REQUESTS.
while [ "$total" -lt "$MIN_REQUESTS" ]; do
	read -r reqs _ _ < <(run_wrk "$hacx_port")
	total=$((total + reqs))
done
rss_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$hacx_pid/status")"
hwm_kb="$(awk '/^VmHWM:/ {print $2}' "/proc/$hacx_pid/status")"

ratio="$(awk -v a="$hacx_rps" -v b="$nginx_rps" 'BEGIN {printf "%.2f", a / b}')"
printf '%-12s %12s %10s\n' server 'req/s' 'p99 ms'
printf '%-12s %12s %10s\n' nginx "$nginx_rps" "$nginx_p99"
printf '%-12s %12s %10s\n' 'hacx serve' "$hacx_rps" "$hacx_p99"
echo "ratio hacx/nginx: $ratio (goal >= $GOAL)"
echo "hacx serve RSS after $total requests: $((rss_kb / 1024)) MiB (peak $((hwm_kb / 1024)) MiB)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION, server on ${server_cpu[*]:-any CPU}, wrk on ${client_cpu[*]:-any CPU}"
awk -v r="$ratio" -v g="$GOAL" 'BEGIN {exit !(r >= g)}' || { echo "below goal" >&2; exit 1; }
