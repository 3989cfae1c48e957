{{/* Labels on every object of the chart. */}}
{{- define "weft.labels" -}}
app.kubernetes.io/part-of: weft
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Selector labels of one component: call with (list $ "identity"). */}}
{{- define "weft.selector" -}}
app.kubernetes.io/name: weft-{{ index . 1 }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
{{- end }}

{{/* All labels of one component's objects: call with (list $ "identity"). */}}
{{- define "weft.componentLabels" -}}
{{ include "weft.labels" (index . 0) }}
{{ include "weft.selector" . }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The image of a component: call with (list $ "identity" .Values.identity.image). */}}
{{- define "weft.image" -}}
{{- $root := index . 0 -}}
{{- $override := index . 2 -}}
{{- if $override -}}
{{ $override }}
{{- else -}}
{{ printf "%s/%s:%s" $root.Values.image.repository (index . 1) $root.Values.image.tag }}
{{- end -}}
{{- end }}

{{/* host:port of a control-plane Service, as pods reach it. */}}
{{- define "weft.identityAddr" -}}
weft-identity.{{ .Release.Namespace }}.svc.{{ .Values.mesh.clusterDomain }}:8080
{{- end }}

{{/* The Secret holding the identity issuer (tls.crt, tls.key). */}}
{{- define "weft.issuerSecret" -}}
{{- .Values.identity.issuer.existingSecret | default "weft-identity-issuer" -}}
{{- end }}

{{/* Whether the chart generates the evaluation PKI. */}}
{{- define "weft.evaluationPki" -}}
{{- if and (not .Values.identity.issuer.existingSecret) (not .Values.identity.issuer.certPEM) -}}
true
{{- end -}}
{{- end }}

{{/* The pod-level fields every control-plane Deployment shares. */}}
{{- define "weft.podCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Probes on the admin port and the common container fields. */}}
{{- define "weft.containerCommon" -}}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
livenessProbe:
  httpGet: {path: /live, port: admin}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /ready, port: admin}
  periodSeconds: 2
  timeoutSeconds: 2
  failureThreshold: 3
{{- end }}

{{/* Environment every control-plane container shares. */}}
{{- define "weft.commonEnv" -}}
- name: WEFT_LOG_FORMAT
  value: {{ .Values.mesh.logFormat | quote }}
- name: WEFT_CONTROL_PLANE_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: WEFT_TRUST_DOMAIN
  value: {{ .Values.mesh.trustDomain | quote }}
{{- end }}

{{/* A PodDisruptionBudget when a second replica exists: (list $ "identity" replicas). */}}
{{- define "weft.pdb" -}}
{{- if gt (int (index . 2)) 1 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: weft-{{ index . 1 }}
  namespace: {{ (index . 0).Release.Namespace }}
  labels:
    {{- include "weft.componentLabels" (list (index . 0) (index . 1)) | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "weft.selector" (list (index . 0) (index . 1)) | nindent 6 }}
{{- end }}
{{- end }}

{{/*
A TLS serving certificate for a control-plane Service, signed by a CA the
chart generates and keeps: the webhook's (injector.yaml) and the metrics
API's (metrics-api.yaml) come from this one mechanism.

- At first install: a CA (settings.caValidityDays) and a serving
  certificate for <service>.<ns>.svc and <service>.<ns>.svc.<clusterDomain>
  that it signs (settings.certificateValidityDays).
- On every upgrade the Secret is looked up and its CA kept, unless fewer
  than settings.renewBeforeDays remain on it (then a new CA and certificate).
- The serving certificate is re-signed by the same CA when fewer than
  settings.renewBeforeDays remain on it or settings.rotateCertificate is
  true; the caBundle does not change, and the component reloads its files.

Call with (dict "root" $ "secret" "<Secret>" "service" "<Service>"
"component" "<component>" "settings" <dict> ["caName" "<CA common name>"]).
It emits the kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt, ca.key),
whose data."ca.crt" is the caBundle. It generates keys, so include it ONCE
into a variable, print that, and read the CA from it:
  {{- $tls := include "weft.servingCert" (dict ...) }}
  {{ $tls }}
  caBundle: {{ index (fromYaml $tls).data "ca.crt" }}
*/}}
{{- define "weft.servingCert" -}}
{{- $root := .root }}
{{- $s := .settings }}
{{- $ns := $root.Release.Namespace }}
{{- $now := now | unixEpoch | int64 }}
{{- $day := 86400 }}
{{- $renewBefore := mul $day (int $s.renewBeforeDays) }}
{{- $old := lookup "v1" "Secret" $ns .secret }}
{{- $oldAnn := dig "metadata" "annotations" (dict) $old }}
{{- $caCrt := "" }}
{{- $caKey := "" }}
{{- $caNotAfter := 0 }}
{{- $crt := "" }}
{{- $key := "" }}
{{- $notAfter := 0 }}
{{- if and $old (index $old.data "ca.crt") (index $old.data "ca.key") (gt (int64 (index $oldAnn "weft.io/ca-not-after" | default "0")) (add $now $renewBefore)) }}
{{- $caCrt = index $old.data "ca.crt" }}
{{- $caKey = index $old.data "ca.key" }}
{{- $caNotAfter = int64 (index $oldAnn "weft.io/ca-not-after") }}
{{- $crt = index $old.data "tls.crt" }}
{{- $key = index $old.data "tls.key" }}
{{- $notAfter = int64 (index $oldAnn "weft.io/not-after" | default "0") }}
{{- else }}
{{- $ca := genCAWithKey (.caName | default (printf "%s CA" .service)) (int $s.caValidityDays) (genPrivateKey "ecdsa") }}
{{- $caCrt = $ca.Cert | b64enc }}
{{- $caKey = $ca.Key | b64enc }}
{{- $caNotAfter = add $now (mul $day (int $s.caValidityDays)) }}
{{- end }}
{{- if or (not $crt) $s.rotateCertificate (lt $notAfter (add $now $renewBefore)) }}
{{- $ca := buildCustomCert $caCrt $caKey }}
{{- $dns := list (printf "%s.%s.svc" .service $ns) (printf "%s.%s.svc.%s" .service $ns $root.Values.mesh.clusterDomain) }}
{{- $leaf := genSignedCert (printf "%s.%s.svc" .service $ns) nil $dns (int $s.certificateValidityDays) $ca }}
{{- $crt = $leaf.Cert | b64enc }}
{{- $key = $leaf.Key | b64enc }}
{{- $notAfter = add $now (mul $day (int $s.certificateValidityDays)) }}
{{- end -}}
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: {{ .secret }}
  namespace: {{ $ns }}
  labels:
    {{- include "weft.componentLabels" (list $root .component) | nindent 4 }}
  annotations:
    # Unix times; the chart re-signs the serving certificate on the upgrade
    # after not-after - renewBeforeDays.
    weft.io/not-after: {{ $notAfter | quote }}
    weft.io/ca-not-after: {{ $caNotAfter | quote }}
data:
  tls.crt: {{ $crt }}
  tls.key: {{ $key }}
  ca.crt: {{ $caCrt }}
  ca.key: {{ $caKey }}
{{- end }}

{{/* The Lease whose holder scrapes the proxies for the metrics API. */}}
{{- define "weft.metricsLease" -}}
weft-metrics-leader
{{- end }}
