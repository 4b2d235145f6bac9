{{/*
STAND-IN, not the upstream chart: platform-bootstrap's test stand-in for the openbao chart
(see ../README.md). Helpers named after what they compute, written for this stand-in.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "standin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: the release name when it already holds the chart name, else <release>-<chart>. */}}
{{- define "standin.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "standin.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "standin.namespace" -}}
{{- default .Release.Namespace .Values.global.namespace -}}
{{- end -}}

{{- define "standin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels every object carries. */}}
{{- define "standin.labels" -}}
helm.sh/chart: {{ include "standin.chart" . }}
app.kubernetes.io/name: {{ include "standin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "standin.scheme" -}}
{{- if .Values.global.tlsDisable -}}http{{- else -}}https{{- end -}}
{{- end -}}

{{- define "standin.serviceAccountName" -}}
{{- if .Values.server.serviceAccount.create -}}
{{- default (include "standin.fullname" .) .Values.server.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.server.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Only standalone: the modes this stand-in does not render fail loudly instead of rendering something else. */}}
{{- define "standin.assertStandalone" -}}
{{- if eq (toString .Values.server.ha.enabled) "true" -}}
{{- fail "openbao stand-in: server.ha is not supported (standalone only)" -}}
{{- end -}}
{{- if eq (toString .Values.server.dev.enabled) "true" -}}
{{- fail "openbao stand-in: server.dev is not supported (standalone only)" -}}
{{- end -}}
{{- if eq (toString .Values.server.standalone.enabled) "false" -}}
{{- fail "openbao stand-in: server.standalone.enabled=false leaves nothing to render" -}}
{{- end -}}
{{- end -}}
