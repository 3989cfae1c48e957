# weft-controller: the binary plus exactly the shared libraries it loads.
# Build context: a directory staged by `scripts/stage-image` (`make images`
# does it), e.g. with Docker:
#   scripts/stage-image /tmp/inj target/release/weft-controller
#   docker build -f images/controller.Dockerfile -t weft/controller:dev /tmp/inj
FROM scratch
COPY lib /lib
COPY lib64 /lib64
COPY bin/weft-controller /weft-controller
USER 65532:65532
EXPOSE 8090 9990
ENTRYPOINT ["/weft-controller"]
