# e2e test application (source: demo/app): `testapp serve` (default) answers
# "hello from <pod>", `testapp get URL` is the client for pod-to-pod checks.
# Build context: the e2e binaries directory, e.g.
#   docker build -f e2e/cluster/dockerfiles/testapp.Dockerfile -t weft/testapp:e2e ~/.cache/weft/cluster/bin
FROM scratch
COPY testapp /testapp
EXPOSE 8080
ENTRYPOINT ["/testapp"]
CMD ["serve"]
