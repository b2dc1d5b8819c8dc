# Keeptrusts gateway image: `kt` on an empty (scratch) runtime, running as a
# non-root user. The same image runs the gateway (`kt gateway run`) and the
# provider simulators (`kt sim`) of docker-compose.yaml.
#
#   docker build -t keeptrusts/gateway:dev --build-arg VERSION=$(git describe --tags --always) .
#
# Scratch rather than a distroless base: the binaries are static
# (CGO_ENABLED=0; the event store is pure-Go SQLite), and the only files a
# runtime needs from a base image -- CA certificates for HTTPS providers, time
# zones, a passwd entry for the non-root user -- are copied from the builder.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X github.com/keeptrusts/gateway/pkg/cli.Version=${VERSION}" -o /out/kt ./cmd/kt && \
    go build -trimpath -ldflags "-s -w" -o /out/healthcheck ./deploy/healthcheck
# The non-root user (65532, "nonroot" as in distroless) and its writable state
# directory, where the event store lives (a volume in docker-compose.yaml).
RUN mkdir -p /out/rootfs/etc /out/rootfs/var/lib/keeptrusts && \
    echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > /out/rootfs/etc/passwd && \
    echo 'nonroot:x:65532:' > /out/rootfs/etc/group && \
    chown -R 65532:65532 /out/rootfs/var/lib/keeptrusts

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=build /out/rootfs/ /
COPY --from=build /out/kt /out/healthcheck /usr/local/bin/
USER 65532:65532
# XDG_STATE_HOME puts the default event store at /var/lib/keeptrusts/keeptrusts/events.db;
# docker-compose.yaml and the Kubernetes manifests set events.path explicitly.
ENV XDG_STATE_HOME=/var/lib/keeptrusts HOME=/home/nonroot
WORKDIR /var/lib/keeptrusts
EXPOSE 41002
ENTRYPOINT ["/usr/local/bin/kt"]
CMD ["gateway", "run", "--host", "0.0.0.0", "--policy-config", "/etc/keeptrusts/policy-config.yaml"]
