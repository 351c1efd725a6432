# Multi-stage build: static binaries, then two small images.
#   docker build --target server -t slipway-server .
#   docker build --target action -t slipway-action .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/slipway ./action \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/slipway-agent ./agent \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/slipway-server ./server

# The server runs as an unprivileged user; its state lives in /var/lib/slipway.
FROM gcr.io/distroless/static-debian12:nonroot AS server
COPY --from=build /out/slipway-server /usr/local/bin/slipway-server
VOLUME ["/var/lib/slipway"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/slipway-server", "--data-dir", "/var/lib/slipway", "--listen", ":8080"]

# GitHub runs Docker actions as root (the workspace is root-owned), so this image does too.
FROM gcr.io/distroless/static-debian12 AS action
COPY --from=build /out/slipway /usr/local/bin/slipway
ENTRYPOINT ["/usr/local/bin/slipway"]
