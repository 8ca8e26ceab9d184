{{/* The prefix of every object's name: the release name, or fullnameOverride. */}}
{{- define "alter.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object; "alter.componentLabels" adds the component's name. */}}
{{- define "alter.labels" -}}
app.kubernetes.io/part-of: alter-identity
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector of one component's pods; call with (dict "root" $ "name" "jwt-verifier"). */}}
{{- define "alter.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "alter.componentLabels" -}}
{{ include "alter.labels" .root }}
{{ include "alter.selectorLabels" . }}
app.kubernetes.io/component: {{ .component | default .name }}
{{- end -}}

{{- define "alter.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "alter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "alter.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{/* "http" for the services browsers or providers reach over HTTP, else "grpc". */}}
{{- define "alter.portName" -}}
{{- if has . (list "webhook-ingest" "signin") }}http{{ else }}grpc{{ end -}}
{{- end -}}

{{/* The services that open sealed secrets and need the master key. */}}
{{- define "alter.needsMasterKey" -}}
{{- if has . (list "config-api" "webhook-ingest" "directory-sync" "signin") }}true{{ end -}}
{{- end -}}

{{/* The services that call identity providers over HTTPS (discovery, JWKS, management APIs). */}}
{{- define "alter.callsProviders" -}}
{{- if has . (list "jwt-verifier" "directory-sync" "config-api" "signin") }}true{{ end -}}
{{- end -}}

{{/*
alter.toml from .Values.config (one table per section, keys as in docs/configuration.md),
plus each enabled service's listen addresses. Empty strings and nulls are left out so the
service's default applies; strings, numbers, booleans and lists are written as JSON values,
which TOML reads the same.
*/}}
{{- define "alter.toml" -}}
# Rendered by the Helm chart from .Values.config; reference: docs/configuration.md.
{{- $services := .Values.services }}
{{- range $section, $keys := .Values.config }}

[{{ $section }}]
{{- $svc := index $services ($section | replace "_" "-") }}
{{- if $svc }}
listen = "0.0.0.0:{{ $svc.port }}"
admin_listen = "0.0.0.0:{{ $svc.adminPort }}"
{{- end }}
{{- range $key, $value := $keys }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value ""))) }}
{{ $key }} = {{ toJson $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The environment every Alter container gets: the file, secrets by reference. */}}
{{- define "alter.env" -}}
{{- $keys := .root.Values.secrets.keys }}
{{- $secret := .root.Values.secrets.existingSecret }}
- name: ALTER_CONFIG
  value: /etc/alter/alter.toml
- name: ALTER_DATABASE__URL
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: {{ $keys.databaseUrl }} }
{{- if .migrate }}
- name: ALTER_DATABASE__MIGRATE
  value: {{ .migrate | quote }}
{{- end }}
{{- if include "alter.needsMasterKey" .name }}
- name: ALTER_SECRETS__MASTER_KEY
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: {{ $keys.masterKey }} }
- name: ALTER_SECRETS__PREVIOUS_MASTER_KEYS
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: {{ $keys.previousMasterKeys }}, optional: true }
{{- end }}
{{- if eq .name "config-api" }}
- name: ALTER_CONFIG_API__ADMIN_TOKEN_HASHES
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: {{ $keys.adminTokenHashes }} }
{{- end }}
{{- end -}}

{{/* Egress every Alter pod needs: DNS and PostgreSQL. */}}
{{- define "alter.egress.base" -}}
{{- $np := .Values.networkPolicy -}}
- ports:
    - { port: 53, protocol: UDP }
    - { port: 53, protocol: TCP }
  {{- with $np.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - { port: {{ $np.postgres.port }}, protocol: TCP }
  {{- with $np.postgres.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
