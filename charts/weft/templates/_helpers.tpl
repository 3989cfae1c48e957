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
