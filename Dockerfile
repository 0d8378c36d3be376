# syntax=docker/dockerfile:1
# Gatehouse as a static, non-root binary on a distroless base. Build:
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t gatehouse .
# Run it with a read-only root file system, GATEHOUSE_ISSUER set to the https URL
# clients reach (the server refuses to start without one on 0.0.0.0) and a master
# key; see docs/operations.md.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY sdk/go.mod sdk/go.sum ./sdk/
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/gatehouse/gatehouse/internal/cli.Version=${VERSION} -X github.com/gatehouse/gatehouse/internal/cli.Commit=${COMMIT}" \
      -o /out/gatehouse ./cmd/gatehouse

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
# The embedded SQLite store and dev files go here; mount a volume to keep them.
WORKDIR /var/lib/gatehouse
USER nonroot:nonroot
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 GATEHOUSE_DATA_DIR=/var/lib/gatehouse
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
