# weft-proxy: the sidecar (`weft-proxy`) and the pod's init container
# (`weft-proxy init`, see docs/proxy-init.md), which writes the pod's iptables
# rules. The image holds, and nothing else (no shell):
#   /weft-proxy
#   /usr/sbin/xtables-nft-multi, /usr/sbin/xtables-legacy-multi  Debian's iptables
#   /usr/sbin/ip{,6}tables{,-nft,-legacy}{,-save,-restore}       symlinks to them
#   /usr/lib/<arch>/xtables/*.so   the extensions (REDIRECT, REJECT, owner, comment, ...)
#   /lib, /lib64                   every shared library these load (per ldd)
#   /run                           mount point of the xtables-lock emptyDir
#
# Build context: the root filesystem staged by `scripts/stage-proxy-image`
# (`make images` does it, then builds with e2e/cluster/images), e.g.
#   scripts/stage-proxy-image /tmp/proxy $CARGO_TARGET_DIR/proxy/weft-proxy  (make proxy-build)
#   e2e/cluster/images --spec weft/proxy:dev "$PWD/images/proxy.Dockerfile" /tmp/proxy
#
# Why file capabilities: the injector runs weft-init as UID 2102 (non-root)
# with NET_ADMIN and NET_RAW added to its capabilities, allowPrivilegeEscalation
# true and a read-only root filesystem. A non-root process does not hold the
# capabilities of its bounding set; it gains them by exec'ing a binary that
# carries them. So the staging sets cap_net_admin,cap_net_raw+ep on both
# xtables-*-multi binaries, and the image keeps that security.capability xattr:
# e2e/cluster/images copies with `cp -a` and tars the layer with
# `--xattrs --xattrs-include=security.capability` (a SCHILY.xattr PAX record,
# which containerd sets when it unpacks the layer). The kernel then grants
# exactly these two capabilities to iptables, and only if the pod allows them:
# without them in the bounding set exec fails (EPERM); with no_new_privs
# (allowPrivilegeEscalation: false) they are ignored and iptables is refused.
# weft-proxy itself carries no capabilities. e2e/tests/proxy_init.rs proves
# all of this on the real kubelet.
#
# With Docker, `docker build -f images/proxy.Dockerfile /tmp/proxy` builds the
# same image, but COPY from the build context may drop xattrs
# (moby/buildkit#2250): check with `getcap` on the unpacked image.
FROM scratch
COPY . /
ENV PATH=/usr/sbin
USER 2102:2102
EXPOSE 4143 4191
ENTRYPOINT ["/weft-proxy"]
