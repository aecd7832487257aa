{{/*
Expand the name of the chart.
*/}}
{{- define "tiktok-capi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "tiktok-capi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "tiktok-capi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "tiktok-capi.labels" -}}
helm.sh/chart: {{ include "tiktok-capi.chart" . }}
{{ include "tiktok-capi.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: connector
{{- end }}

{{/*
Selector labels
*/}}
{{- define "tiktok-capi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tiktok-capi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "tiktok-capi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tiktok-capi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image: image.tag defaults to the chart's appVersion; a digest pins it.
*/}}
{{- define "tiktok-capi.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/*
Consumer group id: kafka.groupId, or the release's full name.
*/}}
{{- define "tiktok-capi.groupId" -}}
{{- .Values.kafka.groupId | default (include "tiktok-capi.fullname" .) -}}
{{- end }}

{{/*
Name of the Secret holding the TikTok access token (created by the chart or existing).
*/}}
{{- define "tiktok-capi.tokenSecretName" -}}
{{- .Values.tiktok.existingSecret | default (include "tiktok-capi.fullname" .) -}}
{{- end }}

{{/*
Name of the Secret holding the Schema Registry's basic-auth user info.
*/}}
{{- define "tiktok-capi.registrySecretName" -}}
{{- .Values.schemaRegistry.existingSecret | default (include "tiktok-capi.fullname" .) -}}
{{- end }}

{{/*
True (non-empty) when the chart creates its own Secret.
*/}}
{{- define "tiktok-capi.createSecret" -}}
{{- if or (not .Values.tiktok.existingSecret) (and .Values.schemaRegistry.basicAuthUserInfo (not .Values.schemaRegistry.existingSecret)) -}}
true
{{- end -}}
{{- end }}

{{/*
An environment variable value as a string; whole numbers never render as 1e+06.
*/}}
{{- define "tiktok-capi.envValue" -}}
{{- $v := . -}}
{{- if kindIs "float64" $v -}}
{{- if eq $v (float64 (int64 $v)) -}}{{- int64 $v -}}{{- else -}}{{- $v -}}{{- end -}}
{{- else -}}
{{- toString $v -}}
{{- end -}}
{{- end }}

{{/*
The highest replica count allowed: the source topic's partition count. A consumer beyond it
gets no partition and sits idle.
*/}}
{{- define "tiktok-capi.maxReplicas" -}}
{{- int .Values.kafka.partitions -}}
{{- end }}

{{/*
Retry tier prefix and dead-letter topic: config.RETRY_TOPIC / config.DLQ_TOPIC, or names private
to the consumer group, `{sourceTopic}.{group id}.retry` and `.dlq` (the connector's own default
shape), so two releases reading the same source topic never share retry tiers.
*/}}
{{- define "tiktok-capi.retryTopic" -}}
{{- .Values.config.RETRY_TOPIC | default (printf "%s.%s.retry" .Values.kafka.sourceTopic (include "tiktok-capi.groupId" .)) -}}
{{- end }}

{{- define "tiktok-capi.dlqTopic" -}}
{{- .Values.config.DLQ_TOPIC | default (printf "%s.%s.dlq" .Values.kafka.sourceTopic (include "tiktok-capi.groupId" .)) -}}
{{- end }}

{{/*
terminationGracePeriodSeconds: the drain (SHUTDOWN_GRACE) plus the margin for what follows it
(final commit, group leave).
*/}}
{{- define "tiktok-capi.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdownGraceSeconds) (int .Values.terminationGraceMarginSeconds) -}}
{{- end }}

{{/*
Where the token file is mounted (tiktok.accessTokenFromFile) and the file's name in it.
*/}}
{{- define "tiktok-capi.tokenDir" -}}
/var/run/secrets/tiktok-capi
{{- end }}

{{- define "tiktok-capi.tokenFile" -}}
access-token
{{- end }}

{{/*
PromQL label matchers selecting this release's series: metrics.prometheusRule.selector, or the
labels Prometheus gives targets behind the chart's metrics Service.
*/}}
{{- define "tiktok-capi.metricsSelector" -}}
{{- .Values.metrics.prometheusRule.selector | default (printf "namespace=%q, service=%q" .Release.Namespace (include "tiktok-capi.metricsServiceName" .)) -}}
{{- end }}

{{/*
Name of the metrics Service.
*/}}
{{- define "tiktok-capi.metricsServiceName" -}}
{{- printf "%s-metrics" (include "tiktok-capi.fullname" .) -}}
{{- end }}

{{/*
Labels of one alert of the PrometheusRule: its severity plus metrics.prometheusRule.alertLabels.
Takes (dict "alert" <alert values> "rule" <metrics.prometheusRule>).
*/}}
{{- define "tiktok-capi.alertLabels" -}}
severity: {{ .alert.severity | quote }}
{{- with .rule.alertLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
