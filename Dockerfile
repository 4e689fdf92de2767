# Vigil: one image for every service — `vigil stream|serve|mcp|batch|alert|topics` — built in a
# Swift image (librdkafka 2.8.0 from scripts/bootstrap and the Swift runtime linked statically),
# run on slim Debian with only the C libraries it loads, as a non-root user.
#
#   docker build -t anomaly-detection .
#   docker run -d -p 8000:8000 -v $(pwd)/anomaly_outputs:/app/anomaly_outputs \
#     -v $(pwd)/logs:/app/logs anomaly-detection
#
# The default command is the REST API on port 8000, models from /app/anomaly_outputs (empty or
# missing: rules-only detection), batch folders /app/logs and /app/batch_outputs.

FROM swift:6.3-bookworm AS build
WORKDIR /src
# Versions come from the pinned base image's Debian release (hadolint DL3008 is about drift
# within a release; bookworm's security updates are what we want).
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      build-essential pkg-config python3 dpkg-dev debian-archive-keyring \
      libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
# librdkafka first, in a layer of its own: rebuilt only when the bootstrap script changes.
COPY scripts/bootstrap scripts/bootstrap
RUN scripts/bootstrap
COPY . .
RUN PKG_CONFIG_PATH=/src/.deps/pkgconfig swift build -c release --product vigil --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/vigil" /out/vigil

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates libssl3 zlib1g libzstd1 liblz4-1 libsasl2-2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin vigil \
 && mkdir -p /app/anomaly_outputs /app/logs /app/batch_outputs /app/alerts_outbox /var/lib/vigil/state \
 && chown -R vigil:vigil /app /var/lib/vigil
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY topics.yml /etc/vigil/topics.yml
# The binary links librdkafka and the Swift packages statically: their notices ship with it
# (`vigil version --licenses` prints the same text).
COPY LICENSE NOTICE /usr/share/doc/vigil/
WORKDIR /app
USER 10001:10001
EXPOSE 8000 9464
# The API's liveness; services that do not serve the API set their own (docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["vigil", "probe", "http://127.0.0.1:8000/health/live"]
ENTRYPOINT ["vigil"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
