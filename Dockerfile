# Mediagate's image: the static binary on a small Debian, running as uid 10001.
#
#   docker build -t mediagate .
#   docker run --rm mediagate help
#
# The data dir is /data (MEDIAGATE_DATA_DIR). It is created here owned by
# uid 10001 with mode 0755, so a named volume mounted on it starts out
# writable by the app and readable by an nginx container that mounts the same
# volume read-only (the app makes directories 0755 and files 0644).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /mediagate ./cmd/server

FROM debian:bookworm-slim
# ca-certificates: for DATABASE_URL with sslmode=verify-full (and an https
# S3 endpoint); ffmpeg (ffprobe with it) for the media pipeline; util-linux
# has prlimit, which puts limits on every ffmpeg run.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates ffmpeg util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mediagate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin mediagate \
 && mkdir -p /data /nginx-conf \
 && chown 10001:10001 /data /nginx-conf \
 && chmod 0755 /data /nginx-conf
COPY --from=build /mediagate /mediagate
ENV MEDIAGATE_ADDR=0.0.0.0:8080 \
    MEDIAGATE_DATA_DIR=/data
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/mediagate"]
CMD ["serve"]
