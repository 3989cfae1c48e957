# weft-identity: the binary plus exactly the shared libraries it loads.
# Build context: a directory staged by `scripts/stage-image` (`make images`
# does it), e.g. with Docker:
#   scripts/stage-image /tmp/inj target/release/weft-identity
#   docker build -f images/identity.Dockerfile -t weft/identity:dev /tmp/inj
FROM scratch
COPY lib /lib
COPY lib64 /lib64
COPY bin/weft-identity /weft-identity
USER 65532:65532
EXPOSE 8080 9990
ENTRYPOINT ["/weft-identity"]
