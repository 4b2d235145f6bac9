{{/*
STAND-IN, not the upstream chart: platform-bootstrap's test stand-in for the argo-cd chart
(see ../README.md). Helpers written for this stand-in.
*/}}

{{- define "standin.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "standin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Argo CD image tag: global.image.tag, else the Argo CD version whose install.yaml this is. */}}
{{- define "standin.argocdTag" -}}
{{- .Values.global.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* The tag as a label value (a label value allows [-A-Za-z0-9_.] only). */}}
{{- define "standin.versionLabel" -}}
{{- regexReplaceAll "[^-A-Za-z0-9_.]" (include "standin.argocdTag" .) "-" | trunc 63 | trimAll "-" | trimAll "_" | trimAll "." -}}
{{- end -}}

{{/* Labels added to every object (and every pod template) next to install.yaml's own, as YAML. */}}
{{- define "standin.commonLabels" -}}
helm.sh/chart: {{ include "standin.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: argocd
app.kubernetes.io/version: {{ include "standin.versionLabel" . | quote }}
{{- with .Values.global.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
