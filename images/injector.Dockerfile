# weft-injector: the binary plus exactly the shared libraries it loads.
# Build context: a directory staged by `scripts/stage-image` (`make images`
# does it), e.g. with Docker:
#   scripts/stage-image /tmp/inj target/release/weft-injector
#   docker build -f images/injector.Dockerfile -t weft/injector:dev /tmp/inj
FROM scratch
COPY lib /lib
COPY lib64 /lib64
COPY bin/weft-injector /weft-injector
USER 65532:65532
EXPOSE 8443 9990
ENTRYPOINT ["/weft-injector"]
