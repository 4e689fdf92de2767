# Vigil container image: builds librdkafka (scripts/bootstrap) and a release `vigil` with the
# Swift runtime linked in, then ships it on a slim Debian with only the C libraries it loads.
FROM swift:6.3-bookworm AS build
WORKDIR /src
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential pkg-config python3 python3-venv dpkg-dev \
      libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev >/dev/null
COPY . .
RUN scripts/bootstrap \
 && PKG_CONFIG_PATH=/src/.deps/pkgconfig swift build -c release --product vigil --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/vigil" /out/vigil

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      ca-certificates libssl3 zlib1g libzstd1 liblz4-1 libsasl2-2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 vigil \
 && mkdir -p /var/lib/vigil/state && chown vigil /var/lib/vigil/state
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY topics.yml /etc/vigil/topics.yml
USER vigil
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["version"]
