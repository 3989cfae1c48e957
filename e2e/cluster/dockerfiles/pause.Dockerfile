# Pod sandbox image. Build context: the e2e binaries directory
# (${WEFT_CACHE:-$HOME/.cache/weft}/cluster/bin), e.g.
#   docker build -f e2e/cluster/dockerfiles/pause.Dockerfile -t weft/pause:e2e ~/.cache/weft/cluster/bin
# e2e/cluster/images builds the same image without a daemon from this file.
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
