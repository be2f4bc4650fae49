{{- define "intuition.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "intuition.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "intuition.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "intuition.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "intuition.selectorLabels" -}}
app.kubernetes.io/name: {{ include "intuition.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "intuition.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "intuition.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "intuition.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "intuition.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The agent's configuration file: the user's keys, with the listen address the pod must serve on. */}}
{{- define "intuition.config" -}}
{{- mergeOverwrite (deepCopy .Values.config) (dict "listen" (printf "0.0.0.0:%v" .Values.port)) | toYaml }}
{{- end }}
