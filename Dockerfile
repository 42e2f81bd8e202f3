# syntax=docker/dockerfile:1
# booking-monitor in a container: the release binary, run as a non-root user on
# Debian slim. docs/operating.md ("In a container") says how to run it;
# deploy/compose.yaml runs two instances on PostgreSQL with Prometheus and Grafana.
#
# The base images are arguments: the public ones by default (docker build .), or
# images made locally where none can be pulled (.ci/container builds this file
# with podman on images it makes from Debian's packages and the machine's Rust).

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG CHEF_VERSION=0.1.78

FROM ${RUST_IMAGE} AS chef
ARG CHEF_VERSION
# cargo-chef builds the dependencies alone from a recipe of the manifests, for
# every target Cargo.toml declares, so that their layer stays cached until
# Cargo.toml or Cargo.lock change. A builder image may bring it already.
RUN command -v cargo-chef >/dev/null 2>&1 \
    || cargo install cargo-chef --locked --version "${CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# SQLite, libpq and OpenSSL are built from source here (the crates' bundled
# copies): no -dev package is needed.
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin booking-monitor
COPY . .
RUN cargo build --release --locked --bin booking-monitor

FROM ${RUNTIME_IMAGE}
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
