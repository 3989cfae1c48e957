# shellcheck shell=bash
# PKI and kubeconfigs for the e2e cluster (sourced by `up`; uses openssl).
# Idempotent: existing keys/certs are kept.

_openssl_cnf() { # CN O SANS(comma list or empty) USAGE(server|client|both)
  local cn="$1" o="$2" sans="$3" usage="$4" eku
  case "$usage" in
    server) eku="serverAuth" ;; client) eku="clientAuth" ;; *) eku="serverAuth,clientAuth" ;;
  esac
  printf '[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=%s\n' "$cn"
  [[ -n "$o" ]] && printf 'O=%s\n' "$o"
  printf '[ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "$eku"
  [[ -n "$sans" ]] && printf 'subjectAltName=%s\n' "$sans"
  return 0
}

# make_ca NAME CN
make_ca() {
  local name="$1" cn="$2"
  [[ -f "$PKI/$name.crt" && -f "$PKI/$name.key" ]] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -x509 -new -nodes -key "$PKI/$name.key" -sha256 -days 3650 -subj "/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/$name.crt" 2>/dev/null
}

# make_cert NAME CA CN O SANS USAGE
make_cert() {
  local name="$1" ca="$2" cn="$3" o="$4" sans="$5" usage="$6"
  [[ -f "$PKI/$name.crt" && -f "$PKI/$name.key" ]] && return 0
  local cnf; cnf=$(mktemp)
  _openssl_cnf "$cn" "$o" "$sans" "$usage" >"$cnf"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -config "$cnf" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$cnf" -extensions ext -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$cnf" "$PKI/$name.csr"
}

# write_kubeconfig FILE CERTNAME
write_kubeconfig() {
  local file="$1" cert="$2"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: weft-e2e
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $cert
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: weft-e2e
  context:
    cluster: weft-e2e
    user: $cert
current-context: weft-e2e
EOF
}

gen_pki() {
  command -v openssl >/dev/null || die "openssl not installed"
  mkdir -p "$PKI"; chmod 700 "$PKI"
  make_ca ca weft-e2e-ca
  make_ca front-proxy-ca weft-e2e-front-proxy-ca
  make_cert apiserver ca kube-apiserver "" \
    "IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN" server
  make_cert apiserver-kubelet-client ca kube-apiserver-kubelet-client system:masters "" client
  make_cert front-proxy-client front-proxy-ca front-proxy-client "" "" client
  make_cert admin ca kubernetes-admin system:masters "" client
  make_cert controller-manager ca system:kube-controller-manager "" "" client
  make_cert scheduler ca system:kube-scheduler "" "" client
  make_cert kube-proxy ca system:kube-proxy system:node-proxier "" client
  make_cert kubelet-client ca "system:node:$NODE_NAME" system:nodes "" client
  make_cert kubelet-serving ca "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME" server
  make_cert coredns ca weft-e2e:coredns "" "" client
  if [[ ! -f "$PKI/sa.key" ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  write_kubeconfig "$KUBECONFIG_ADMIN" admin
  write_kubeconfig "$PKI/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$PKI/scheduler.kubeconfig" scheduler
  write_kubeconfig "$PKI/kube-proxy.kubeconfig" kube-proxy
  write_kubeconfig "$PKI/kubelet.kubeconfig" kubelet-client
  write_kubeconfig "$PKI/coredns.kubeconfig" coredns
  chmod 600 "$PKI"/*.key
  info "PKI in $PKI; admin kubeconfig $KUBECONFIG_ADMIN"
}
