# The airflow-vpa-webhook image: built on Debian bookworm, run on bookworm-slim as a non-root
# user with only the shared libraries the binary links.
#
#   docker build -t airflow-vpa-webhook:0.1.0 .
#   docker run --rm airflow-vpa-webhook:0.1.0 serve --help
#
# manifests/base/deployment.yaml runs it with the same arguments as the CMD below, the
# certificate and key mounted from a Secret. Only Dockerfile instructions that the Debian
# docker.io package's builder understands are used (no BuildKit-only syntax).
ARG BUILD_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The build dependencies of scripts/deps, without the test-only ones.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake make pkg-config \
      libboost1.81-dev libssl-dev rapidjson-dev libsimdjson-dev libspdlog-dev libyaml-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
# .dockerignore lets in only the sources the binary is built from.
COPY . /src
# JOBS: parallel compile jobs (default: every core the builder has).
ARG JOBS=""
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DAVW_BUILD_TESTS=OFF \
 && cmake --build /build --target airflow-vpa-webhook -j "${JOBS:-$(nproc)}" \
 && strip --strip-unneeded /build/airflow-vpa-webhook
# The Debian packages that ship the shared libraries the binary links, so the runtime stage
# installs exactly those (and picks up their security updates like any Debian package).
# dpkg -S is asked for the file name under any directory: with merged /usr, ldd may print
# /lib/... where the package lists /usr/lib/....
RUN ldd /build/airflow-vpa-webhook | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' \
    | while read -r lib; do dpkg -S "*/${lib##*/}" | grep -v '^diversion' | head -n 1 | cut -d: -f1 \
        || { echo "no package ships ${lib}" >&2; exit 1; }; done \
    | sort -u > /build/runtime-packages \
 && cat /build/runtime-packages

FROM ${RUNTIME_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=build /build/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && xargs -a /tmp/runtime-packages env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin nonroot
COPY --from=build /build/airflow-vpa-webhook /usr/local/bin/airflow-vpa-webhook
# Fails the build when a library is missing at run time, rather than the first pod start.
RUN ! ldd /usr/local/bin/airflow-vpa-webhook | grep 'not found' \
 && /usr/local/bin/airflow-vpa-webhook serve --help > /dev/null

LABEL org.opencontainers.image.title="airflow-vpa-webhook" \
      org.opencontainers.image.description="Mutating admission webhook that sets Airflow task pod requests from VPA recommendations" \
      org.opencontainers.image.licenses="Apache-2.0"
# The numeric user, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/airflow-vpa-webhook"]
CMD ["serve", "--listen", "0.0.0.0:8443", "--tls-cert", "/etc/airflow-vpa-webhook/tls/tls.crt", "--tls-key", "/etc/airflow-vpa-webhook/tls/tls.key", "--log-format", "json"]
