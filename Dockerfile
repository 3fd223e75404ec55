# The zeal binary for docker-compose.yml. Build: docker build -t zebra-zeal .
FROM rust:1.88-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgmp-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p zeal

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgmp10 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/zeal /usr/local/bin/zeal
USER 10001
ENTRYPOINT ["zeal"]
