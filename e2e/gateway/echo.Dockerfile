# The conformance suite's echo image, built from weft's own echo program
# (e2e/gateway/echo) by e2e/gateway/build, which stages the build context:
#   usr/local/bin/server          static Go binary (the entrypoint)
#   usr/local/bin/client -> server   what the suite execs in the pod
#   cert.crt, cert.key            a self-signed pair made once per cache,
#                                 for the manifests' --tls=8443 --crt --key
# and tags it as the image the suite's mesh manifests name
# (registry.k8s.io/gateway-api/echo-advanced:<tag>). Built daemon-free by
# e2e/cluster/images --spec (FROM scratch, COPY, ENV, USER, ENTRYPOINT only).
FROM scratch
COPY usr /usr
COPY cert.crt /cert.crt
COPY cert.key /cert.key
ENV PATH=/usr/local/bin:/usr/bin:/bin
EXPOSE 8080 8443 7070 9090
# The UID of the upstream image (Istio's app image: useradd --uid 1338).
USER 1338
ENTRYPOINT ["/usr/local/bin/server"]
