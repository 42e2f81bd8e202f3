# syntax=docker/dockerfile:1
# booking-monitor in a container: the release binary README's first command builds,
# run as a non-root user on Debian slim. README "In a container" says how to run it;
# deploy/compose.yaml runs two instances on PostgreSQL with Prometheus and Grafana.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# The dependencies alone first, against placeholder sources: this layer stays cached
# until Cargo.toml, Cargo.lock or build.rs change. SQLite, libpq and OpenSSL are
# built from source here (the crates' bundled copies): no -dev package is needed.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for bench in footprint lifecycle push cluster; do echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked \
    && rm -r src
COPY src src
COPY migrations migrations
COPY tests/fixtures tests/fixtures
COPY config.toml ./
# Newer than the placeholders' build, so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin booking-monitor

FROM debian:bookworm-slim
# CA certificates for TLS to PostgreSQL, time-zone data for whatever reads the
# system's zones (the daemon itself carries the zones it needs).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 booking-monitor \
    && useradd --system --uid 10001 --gid booking-monitor --home-dir /var/lib/booking-monitor \
        --no-create-home --shell /usr/sbin/nologin booking-monitor \
    && install -d -o booking-monitor -g booking-monitor -m 0750 /var/lib/booking-monitor \
    && install -d -m 0755 /etc/booking-monitor
COPY --from=build /src/target/release/booking-monitor /usr/local/bin/booking-monitor
COPY deploy/container/healthcheck /usr/local/bin/booking-monitor-healthcheck

USER booking-monitor
WORKDIR /var/lib/booking-monitor
# The config (mounted read-only, tokens in the environment) and the SQLite file.
VOLUME ["/etc/booking-monitor", "/var/lib/booking-monitor"]
# http.listen must be 0.0.0.0:9187 (or the port set here) for the health check,
# Prometheus and the status page to reach it.
ENV BOOKING_MONITOR_HEALTH_PORT=9187
EXPOSE 9187
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/booking-monitor-healthcheck"]
ENTRYPOINT ["/usr/local/bin/booking-monitor"]
CMD ["run", "--config", "/etc/booking-monitor/config.toml"]
