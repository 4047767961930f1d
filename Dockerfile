# One image for every Reel process: api, worker, edge, gateway and the CLI.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/reel ./cmd/reel

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/reel /usr/local/bin/reel
RUN useradd --system --uid 10001 reel && mkdir -p /work/edge /keys && chown -R reel /work /keys
USER reel
ENV REEL_WORK_DIR=/work
ENTRYPOINT ["reel"]
