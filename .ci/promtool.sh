#!/usr/bin/env bash
# The alerting rules: `promtool check rules` (syntax, PromQL, templates) and
# `promtool test rules` (each alert firing and not firing on made-up series); and
# the example Prometheus config.
# promtool comes from Debian's `prometheus` package (~19 MB download), installed
# here when missing; the server it also installs is not started.
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"

if ! command -v promtool >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # A policy-rc.d keeps the package's server from starting where an init system runs.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

promtool check rules alerts.yml
promtool test rules alerts.test.yml
# compose.yaml's Prometheus config (it loads alerts.yml too).
promtool check config prometheus.yml
