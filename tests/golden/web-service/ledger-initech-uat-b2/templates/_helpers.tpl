{{/* Chart name, at most 63 characters. */}}
{{- define "ledger-initech-uat-b2.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless it holds it. */}}
{{- define "ledger-initech-uat-b2.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "ledger-initech-uat-b2.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels. */}}
{{- define "ledger-initech-uat-b2.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ledger-initech-uat-b2.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* Common labels, on every object. */}}
{{- define "ledger-initech-uat-b2.labels" -}}
helm.sh/chart: {{ include "ledger-initech-uat-b2.chart" . | quote }}
{{ include "ledger-initech-uat-b2.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}
