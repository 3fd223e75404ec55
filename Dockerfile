# The zeal binary for docker-compose.yml. Build: docker build -t zebra-zeal .
FROM rust:1.88-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgmp-dev pkg-config cmake clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p zeal

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgmp10 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/zeal/keys /var/lib/zeal/state \
 && chown -R 10001:10001 /var/lib/zeal && chmod 700 /var/lib/zeal/keys /var/lib/zeal/state
COPY --from=build /src/target/release/zeal /usr/local/bin/zeal
COPY deploy/setup-day.sh /usr/local/share/zeal/setup-day.sh
# Named volumes mounted here start with this owner and mode (keys and meter secrets: 0700).
USER 10001
WORKDIR /var/lib/zeal
ENTRYPOINT ["zeal"]
