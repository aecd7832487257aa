{{/*
Render-time checks of what values.schema.json cannot express (relations between values).
Every rule fails the render with a message naming the values to change.
*/}}
{{- define "tiktok-capi.validate" -}}
{{- $partitions := int .Values.kafka.partitions -}}
{{- if lt $partitions 1 -}}
{{- fail "kafka.partitions is required: set it to the partition count of kafka.sourceTopic (replicas are never allowed above it)" -}}
{{- end -}}
{{- if not .Values.kafka.bootstrapServers -}}
{{- fail "kafka.bootstrapServers is required (comma-separated host:port of your Kafka brokers)" -}}
{{- end -}}
{{- if not .Values.tiktok.pixelCode -}}
{{- fail "tiktok.pixelCode is required (the TikTok pixel this release delivers to; one release per pixel)" -}}
{{- end -}}
{{- if and (not .Values.tiktok.existingSecret) (not .Values.tiktok.accessToken) -}}
{{- fail "the TikTok access token is required: set tiktok.existingSecret (recommended) or tiktok.accessToken" -}}
{{- end -}}
{{- if and .Values.tiktok.existingSecret .Values.tiktok.accessToken -}}
{{- fail "set either tiktok.existingSecret or tiktok.accessToken, not both" -}}
{{- end -}}
{{- if and .Values.schemaRegistry.existingSecret .Values.schemaRegistry.basicAuthUserInfo -}}
{{- fail "set either schemaRegistry.existingSecret or schemaRegistry.basicAuthUserInfo, not both" -}}
{{- end -}}
{{- /* Scaling: never more consumers than partitions. */ -}}
{{- $keda := .Values.autoscaling.keda -}}
{{- $hpa := .Values.autoscaling.hpa -}}
{{- if and $keda.enabled $hpa.enabled -}}
{{- fail "autoscaling.keda.enabled and autoscaling.hpa.enabled are mutually exclusive: pick one" -}}
{{- end -}}
{{- if gt (int .Values.replicaCount) $partitions -}}
{{- fail (printf "replicaCount (%d) must not exceed kafka.partitions (%d): a consumer beyond the partition count gets no partition and sits idle" (int .Values.replicaCount) $partitions) -}}
{{- end -}}
{{- if and $keda.enabled $keda.maxReplicaCount (gt (int $keda.maxReplicaCount) $partitions) -}}
{{- fail (printf "autoscaling.keda.maxReplicaCount (%d) must not exceed kafka.partitions (%d)" (int $keda.maxReplicaCount) $partitions) -}}
{{- end -}}
{{- if and $keda.enabled (gt (int $keda.minReplicaCount) $partitions) -}}
{{- fail (printf "autoscaling.keda.minReplicaCount (%d) must not exceed kafka.partitions (%d)" (int $keda.minReplicaCount) $partitions) -}}
{{- end -}}
{{- if and $hpa.enabled $hpa.maxReplicas (gt (int $hpa.maxReplicas) $partitions) -}}
{{- fail (printf "autoscaling.hpa.maxReplicas (%d) must not exceed kafka.partitions (%d)" (int $hpa.maxReplicas) $partitions) -}}
{{- end -}}
{{- if and $hpa.enabled (gt (int $hpa.minReplicas) $partitions) -}}
{{- fail (printf "autoscaling.hpa.minReplicas (%d) must not exceed kafka.partitions (%d)" (int $hpa.minReplicas) $partitions) -}}
{{- end -}}
{{- /* Shutdown: Kubernetes must not SIGKILL the pod while it drains. */ -}}
{{- if lt (int .Values.terminationGraceMarginSeconds) 5 -}}
{{- fail (printf "terminationGraceMarginSeconds (%d) must be at least 5, so the final commit and group leave finish before Kubernetes sends SIGKILL" (int .Values.terminationGraceMarginSeconds)) -}}
{{- end -}}
{{- /* Monitoring objects read /metrics, and the alerts must select series that exist. */ -}}
{{- $metrics := .Values.metrics -}}
{{- range $name, $on := dict "metrics.serviceMonitor.enabled" $metrics.serviceMonitor.enabled "metrics.prometheusRule.enabled" $metrics.prometheusRule.enabled "metrics.grafanaDashboard.enabled" $metrics.grafanaDashboard.enabled -}}
{{- if and $on (not $metrics.enabled) -}}
{{- fail (printf "%s needs metrics.enabled (the /metrics endpoint)" $name) -}}
{{- end -}}
{{- end -}}
{{- if and $metrics.prometheusRule.enabled (not $metrics.prometheusRule.selector) (not (or $metrics.service.enabled $metrics.serviceMonitor.enabled)) -}}
{{- fail "metrics.prometheusRule.enabled: the default selector matches the series of the chart's metrics Service; turn on metrics.serviceMonitor (or metrics.service), or set metrics.prometheusRule.selector to the labels your Prometheus gives this release's series" -}}
{{- end -}}
{{- /* Retry and dead-letter topics: derived names must still be legal Kafka topic names. */ -}}
{{- range $value, $what := dict (include "tiktok-capi.retryTopic" .) "retry topic prefix" (include "tiktok-capi.dlqTopic" .) "dead-letter topic" -}}
{{- if not (regexMatch "^[a-zA-Z0-9._-]{1,240}$" $value) -}}
{{- fail (printf "the %s %q is not a valid Kafka topic name (letters, digits, '.', '_', '-', at most 240 characters): set config.RETRY_TOPIC / config.DLQ_TOPIC, or a kafka.groupId without other characters" $what $value) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tiktok.accessTokenFromFile (not .Values.podSecurityContext.fsGroup) -}}
{{- fail "tiktok.accessTokenFromFile needs podSecurityContext.fsGroup: the token file is mode 0440, readable through the pod's group" -}}
{{- end -}}
{{- /* Configuration: each value goes through the one place meant for it. */ -}}
{{- $owned := list "KAFKA_BOOTSTRAP_SERVERS" "KAFKA_GROUP_ID" "SOURCE_TOPIC" "SCHEMA_REGISTRY_URL" "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO" "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN" "SCHEMA_REGISTRY_BEARER_AUTH_CLIENT_SECRET" "SCHEMA_REGISTRY_SSL_KEY_PASSWORD" "TIKTOK_ACCESS_TOKEN" "TIKTOK_ACCESS_TOKEN_FILE" "TIKTOK_PIXEL_CODE" "TIKTOK_TEST_EVENT_CODE" "TIKTOK_API_URL" "SHUTDOWN_GRACE" "HEALTH_HOST" "HEALTH_PORT" "METRICS_ENABLED" "EVENT_MAP_FILE" -}}
{{- range $name, $value := .Values.config -}}
{{- if has $name $owned -}}
{{- fail (printf "config.%s is set by a dedicated value of the chart (see values.yaml); remove it from config" $name) -}}
{{- end -}}
{{- if hasPrefix "KAFKA_" $name -}}
{{- fail (printf "config.%s: pass librdkafka properties in kafka.properties (and secrets through kafka.existingSecret)" $name) -}}
{{- end -}}
{{- end -}}
{{- $reserved := list "enable.auto.commit" "enable.auto.offset.store" "group.id" "bootstrap.servers" -}}
{{- range $key, $value := .Values.kafka.properties -}}
{{- if has $key $reserved -}}
{{- fail (printf "kafka.properties.%s is managed by tiktok-capi (bootstrap servers and group id have their own values)" $key) -}}
{{- end -}}
{{- if regexMatch "(?i)(password|secret|jaas|key\\.pem)" $key -}}
{{- fail (printf "kafka.properties.%s looks secret: put it in a Secret (as KAFKA_%s) named by kafka.existingSecret, never in values" $key (upper (replace "." "_" $key))) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9][a-z0-9.]*$" $key) -}}
{{- fail (printf "kafka.properties.%s: use the librdkafka property name, e.g. session.timeout.ms" $key) -}}
{{- end -}}
{{- end -}}
{{- range .Values.extraEnv -}}
{{- if and (hasKey . "value") (regexMatch "(?i)(token|password|secret|user_info|jaas)" .name) -}}
{{- fail (printf "extraEnv %s looks secret: use valueFrom.secretKeyRef (or extraEnvFrom), never a literal value" .name) -}}
{{- end -}}
{{- end -}}
{{- end }}
