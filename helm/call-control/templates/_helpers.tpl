{{/* vim: set filetype=mustache: */}}

{{/* Chart name, shortened to the 63 characters a label value allows. */}}
{{- define "call-control.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "call-control.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "call-control.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "call-control.selectorLabels" -}}
app.kubernetes.io/name: {{ include "call-control.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "call-control.labels" -}}
helm.sh/chart: {{ include "call-control.chart" . }}
{{ include "call-control.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: call-control
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations for every object (renders nothing when there are none). */}}
{{- define "call-control.annotations" -}}
{{- with .Values.commonAnnotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{- define "call-control.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "call-control.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "call-control.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ secrets
Each secret group (sinch, kafka SASL, redis) reads from: its own existingSecret, else the
top-level existingSecret, else the Secret this chart renders (the full name). */}}

{{- define "call-control.saslEnabled" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "call-control.redisEnabled" -}}
{{- if eq .Values.idempotency.backend "redis" -}}true{{- end -}}
{{- end -}}

{{- define "call-control.sinch.secretName" -}}
{{- .Values.sinch.existingSecret | default .Values.existingSecret | default (include "call-control.fullname" .) -}}
{{- end -}}

{{- define "call-control.sasl.secretName" -}}
{{- .Values.kafka.sasl.existingSecret | default .Values.existingSecret | default (include "call-control.fullname" .) -}}
{{- end -}}

{{- define "call-control.redis.secretName" -}}
{{- .Values.idempotency.redis.existingSecret | default .Values.existingSecret | default (include "call-control.fullname" .) -}}
{{- end -}}

{{/* true when the Sinch credentials come from a Secret (an existing one, or values given) */}}
{{- define "call-control.sinch.hasCredentials" -}}
{{- if or .Values.sinch.existingSecret .Values.existingSecret (and .Values.sinch.applicationKey .Values.sinch.applicationSecret) -}}true{{- end -}}
{{- end -}}

{{/* The data of the chart's own Secret: only values not taken from an existing Secret. */}}
{{- define "call-control.secretData" -}}
{{- if not (or .Values.sinch.existingSecret .Values.existingSecret) }}
{{- with .Values.sinch.applicationKey }}
{{ $.Values.sinch.existingSecretKeys.applicationKey }}: {{ . | toString | b64enc | quote }}
{{- end }}
{{- with .Values.sinch.applicationSecret }}
{{ $.Values.sinch.existingSecretKeys.applicationSecret }}: {{ . | toString | b64enc | quote }}
{{- end }}
{{- end }}
{{- if and (include "call-control.saslEnabled" .) (not (or .Values.kafka.sasl.existingSecret .Values.existingSecret)) }}
{{ .Values.kafka.sasl.existingSecretKeys.username }}: {{ .Values.kafka.sasl.username | toString | b64enc | quote }}
{{ .Values.kafka.sasl.existingSecretKeys.password }}: {{ .Values.kafka.sasl.password | toString | b64enc | quote }}
{{- end }}
{{- if and (include "call-control.redisEnabled" .) (not (or .Values.idempotency.redis.existingSecret .Values.existingSecret)) }}
{{ .Values.idempotency.redis.existingSecretKey }}: {{ .Values.idempotency.redis.url | toString | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* ------------------------------------------------------------------ workload and state */}}

{{/* StatefulSet for SQLite (a pod is replaced only once the old one is gone, and its claim
follows it), Deployment for Redis (the store is shared, so a rollout may surge); `workloadKind`
overrides. */}}
{{- define "call-control.workloadKind" -}}
{{- if .Values.workloadKind -}}
{{- .Values.workloadKind -}}
{{- else if eq .Values.idempotency.backend "sqlite" -}}
StatefulSet
{{- else -}}
Deployment
{{- end -}}
{{- end -}}

{{- define "call-control.claimSpec" -}}
accessModes:
  {{- toYaml .Values.persistence.accessModes | nindent 2 }}
{{- with .Values.persistence.storageClass }}
storageClassName: {{ if eq . "-" }}""{{ else }}{{ . | quote }}{{ end }}
{{- end }}
resources:
  requests:
    storage: {{ .Values.persistence.size | quote }}
{{- end -}}

{{/* Extra pods a Deployment's rolling update may add ("0" when none: Recreate, or maxSurge 0). */}}
{{- define "call-control.surge" -}}
{{- $strategy := .Values.updateStrategy | default dict -}}
{{- if eq ($strategy.type | default "RollingUpdate") "Recreate" -}}
0
{{- else -}}
{{- $rolling := $strategy.rollingUpdate | default dict -}}
{{- $surge := toString (hasKey $rolling "maxSurge" | ternary $rolling.maxSurge "25%") -}}
{{- if regexMatch "^0+%?$" $surge -}}0{{- else -}}{{ $surge }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ replicas */}}

{{/* The most replicas this release can run: what decides whether SQLite is safe. */}}
{{- define "call-control.maxReplicas" -}}
{{- if .Values.keda.enabled -}}
{{- .Values.keda.maxReplicaCount | int -}}
{{- else if .Values.autoscaling.hpa.enabled -}}
{{- .Values.autoscaling.hpa.maxReplicas | int -}}
{{- else -}}
{{- .Values.replicaCount | int -}}
{{- end -}}
{{- end -}}

{{- define "call-control.terminationGracePeriodSeconds" -}}
{{- $grace := .Values.shutdownGraceSeconds | float64 | ceil | int -}}
{{- if ne (toString .Values.terminationGracePeriodSeconds) "" -}}
{{- .Values.terminationGracePeriodSeconds | int -}}
{{- else -}}
{{- add $grace (.Values.terminationGraceMarginSeconds | int) -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ validation
Settings that would give a pod that cannot start, or a release that breaks a guarantee, stop
the install with a message naming the value. */}}
{{- define "call-control.validate" -}}
{{- $tgps := include "call-control.terminationGracePeriodSeconds" . | int -}}
{{- if le ($tgps | float64) (.Values.shutdownGraceSeconds | float64) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than shutdownGraceSeconds (%v): Kubernetes would kill the pod before the service has finished its in-flight commands and committed" $tgps .Values.shutdownGraceSeconds) -}}
{{- end -}}
{{- if and .Values.keda.enabled .Values.autoscaling.hpa.enabled -}}
{{- fail "keda.enabled and autoscaling.hpa.enabled: choose one (KEDA makes its own HPA)" -}}
{{- end -}}
{{- $backend := .Values.idempotency.backend -}}
{{- $kind := include "call-control.workloadKind" . -}}
{{- if eq $backend "memory" -}}
{{- fail "idempotency.backend=memory forgets every executed command when the pod goes, so redelivered commands would run again: use sqlite (one replica, persistent volume) or redis" -}}
{{- end -}}
{{- if and (gt (include "call-control.maxReplicas" . | int) 1) (ne $backend "redis") -}}
{{- fail (printf "idempotency.backend=%s with up to %s replicas: each pod would keep its own store, so a command redelivered to another pod after a rebalance would run twice; set idempotency.backend=redis (or run one replica)" $backend (include "call-control.maxReplicas" .)) -}}
{{- end -}}
{{- if eq $backend "sqlite" -}}
{{- if not .Values.persistence.enabled -}}
{{- fail "idempotency.backend=sqlite with persistence.enabled=false: the store would be lost with the pod, and the next pod would run again every command redelivered after its start; enable persistence (or set idempotency.backend=redis)" -}}
{{- end -}}
{{- $surge := include "call-control.surge" . -}}
{{- if and (eq $kind "Deployment") (ne $surge "0") -}}
{{- fail (printf "idempotency.backend=sqlite in a Deployment whose rolling update surges (maxSurge %s): old and new pod would run side by side in every rollout, and a new pod takes the claims it finds unfinished in the store for a dead process's, so a command could run twice; set updateStrategy.type=Recreate (or workloadKind=StatefulSet, or idempotency.backend=redis)" $surge) -}}
{{- end -}}
{{- end -}}
{{- if and (include "call-control.saslEnabled" .) (not (or .Values.kafka.sasl.existingSecret .Values.existingSecret)) (not (and .Values.kafka.sasl.username .Values.kafka.sasl.password)) -}}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.username and kafka.sasl.password, or kafka.sasl.existingSecret / existingSecret" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if and (include "call-control.redisEnabled" .) (not (or .Values.idempotency.redis.existingSecret .Values.existingSecret)) (not .Values.idempotency.redis.url) -}}
{{- fail "idempotency.backend=redis needs idempotency.redis.url, or idempotency.redis.existingSecret / existingSecret" -}}
{{- end -}}
{{- if and (not .Values.sinch.existingSecret) (not .Values.existingSecret) (or .Values.sinch.applicationKey .Values.sinch.applicationSecret) (not (and .Values.sinch.applicationKey .Values.sinch.applicationSecret)) -}}
{{- fail "sinch.applicationKey and sinch.applicationSecret go together: set both (or sinch.existingSecret)" -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ environment
Every CALLCTL_* setting, from values; secrets by secretKeyRef. Integers go through int64 so
that large values are not printed in float notation. */}}
{{/* What `callctl` reads (Kafka and topics): the service's first variables, and all of the
`helm test` pod's, which needs no Sinch or Redis credential. */}}
{{- define "call-control.kafkaEnv" -}}
{{- $v := .Values -}}
- name: CALLCTL_KAFKA__BOOTSTRAP_SERVERS
  value: {{ $v.kafka.bootstrapServers | quote }}
- name: CALLCTL_KAFKA__GROUP_ID
  value: {{ $v.kafka.groupId | quote }}
- name: CALLCTL_KAFKA__CLIENT_ID
  value: {{ $v.kafka.clientId | quote }}
- name: CALLCTL_KAFKA__SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- if include "call-control.saslEnabled" . }}
- name: CALLCTL_KAFKA__SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: CALLCTL_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "call-control.sasl.secretName" . }}
      key: {{ $v.kafka.sasl.existingSecretKeys.username }}
- name: CALLCTL_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "call-control.sasl.secretName" . }}
      key: {{ $v.kafka.sasl.existingSecretKeys.password }}
{{- end }}
{{- if $v.kafka.tls.caSecret }}
- name: CALLCTL_KAFKA__SSL_CAFILE
  value: /etc/callctl/kafka-ca/{{ $v.kafka.tls.caSecretKey }}
{{- end }}
- name: CALLCTL_KAFKA__AUTO_OFFSET_RESET
  value: {{ $v.kafka.autoOffsetReset | quote }}
- name: CALLCTL_KAFKA__SESSION_TIMEOUT_MS
  value: {{ $v.kafka.sessionTimeoutMs | int64 | quote }}
- name: CALLCTL_KAFKA__MAX_POLL_RECORDS
  value: {{ $v.kafka.maxPollRecords | int64 | quote }}
- name: CALLCTL_KAFKA__COMMIT_INTERVAL_MS
  value: {{ $v.kafka.commitIntervalMs | int64 | quote }}
- name: CALLCTL_KAFKA__CREATE_TOPICS
  value: {{ $v.kafka.createTopics | toString | quote }}
- name: CALLCTL_KAFKA__TOPIC_PARTITIONS
  value: {{ $v.kafka.topicPartitions | int64 | quote }}
- name: CALLCTL_KAFKA__TOPIC_REPLICATION_FACTOR
  value: {{ $v.kafka.topicReplicationFactor | int64 | quote }}
- name: CALLCTL_TOPICS__COMMANDS
  value: {{ $v.topics.commands | quote }}
- name: CALLCTL_TOPICS__RESULTS
  value: {{ $v.topics.results | quote }}
- name: CALLCTL_TOPICS__SNAPSHOTS
  value: {{ $v.topics.snapshots | quote }}
- name: CALLCTL_TOPICS__CONFERENCES
  value: {{ $v.topics.conferences | quote }}
- name: CALLCTL_TOPICS__DEAD_LETTER
  value: {{ $v.topics.deadLetter | quote }}
- name: CALLCTL_TOPICS__EVENTS
  value: {{ $v.topics.events | quote }}
- name: CALLCTL_MAX_COMMAND_BYTES
  value: {{ $v.maxCommandBytes | int64 | quote }}
{{- end -}}

{{- define "call-control.env" -}}
{{- $v := .Values -}}
{{ include "call-control.kafkaEnv" . }}
{{- include "call-control.callbacks.env" . }}
- name: CALLCTL_SINCH__BASE_URL
  value: {{ $v.sinch.baseUrl | quote }}
{{- with $v.sinch.regionalUrlTemplate }}
- name: CALLCTL_SINCH__REGIONAL_URL_TEMPLATE
  value: {{ . | quote }}
{{- end }}
- name: CALLCTL_SINCH__AUTH
  value: {{ $v.sinch.auth | quote }}
{{- with $v.sinch.proxyUrl }}
- name: CALLCTL_SINCH__PROXY_URL
  value: {{ . | quote }}
{{- end }}
{{- if include "call-control.sinch.hasCredentials" . }}
- name: CALLCTL_SINCH__APPLICATION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "call-control.sinch.secretName" . }}
      key: {{ $v.sinch.existingSecretKeys.applicationKey }}
- name: CALLCTL_SINCH__APPLICATION_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "call-control.sinch.secretName" . }}
      key: {{ $v.sinch.existingSecretKeys.applicationSecret }}
{{- end }}
- name: CALLCTL_SINCH__CONNECT_TIMEOUT_S
  value: {{ $v.sinch.connectTimeoutSeconds | toString | quote }}
- name: CALLCTL_SINCH__READ_TIMEOUT_S
  value: {{ $v.sinch.readTimeoutSeconds | toString | quote }}
- name: CALLCTL_SINCH__WRITE_TIMEOUT_S
  value: {{ $v.sinch.writeTimeoutSeconds | toString | quote }}
- name: CALLCTL_SINCH__ATTEMPT_TIMEOUT_S
  value: {{ $v.sinch.attemptTimeoutSeconds | toString | quote }}
- name: CALLCTL_SINCH__POOL_TIMEOUT_S
  value: {{ $v.sinch.poolTimeoutSeconds | toString | quote }}
- name: CALLCTL_SINCH__MAX_CONNECTIONS
  value: {{ $v.sinch.maxConnections | int64 | quote }}
- name: CALLCTL_RETRY__MAX_ATTEMPTS
  value: {{ $v.retry.maxAttempts | int64 | quote }}
- name: CALLCTL_RETRY__BASE_DELAY_S
  value: {{ $v.retry.baseDelaySeconds | toString | quote }}
- name: CALLCTL_RETRY__MAX_DELAY_S
  value: {{ $v.retry.maxDelaySeconds | toString | quote }}
- name: CALLCTL_RETRY__MAX_RETRY_AFTER_S
  value: {{ $v.retry.maxRetryAfterSeconds | toString | quote }}
- name: CALLCTL_IDEMPOTENCY__BACKEND
  value: {{ $v.idempotency.backend | quote }}
- name: CALLCTL_IDEMPOTENCY__SQLITE_PATH
  value: {{ $v.idempotency.sqlitePath | quote }}
{{- if include "call-control.redisEnabled" . }}
- name: CALLCTL_IDEMPOTENCY__REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "call-control.redis.secretName" . }}
      key: {{ $v.idempotency.redis.existingSecretKey }}
{{- end }}
- name: CALLCTL_IDEMPOTENCY__KEY_PREFIX
  value: {{ $v.idempotency.keyPrefix | quote }}
- name: CALLCTL_IDEMPOTENCY__RETENTION_S
  value: {{ $v.idempotency.retentionSeconds | int64 | quote }}
- name: CALLCTL_IDEMPOTENCY__LEASE_S
  value: {{ $v.idempotency.leaseSeconds | toString | quote }}
- name: CALLCTL_IDEMPOTENCY__LIVENESS_S
  value: {{ $v.idempotency.livenessSeconds | toString | quote }}
- name: CALLCTL_MAX_IN_FLIGHT
  value: {{ $v.maxInFlight | int64 | quote }}
- name: CALLCTL_MAX_BUFFERED
  value: {{ $v.maxBuffered | int64 | quote }}
- name: CALLCTL_MAX_BUFFERED_BYTES
  value: {{ $v.maxBufferedBytes | int64 | quote }}
- name: CALLCTL_SNAPSHOT_DEFAULT
  value: {{ $v.snapshotDefault | toString | quote }}
- name: CALLCTL_SHUTDOWN_GRACE_S
  value: {{ $v.shutdownGraceSeconds | toString | quote }}
- name: CALLCTL_LOG_FORMAT
  value: {{ $v.logFormat | quote }}
- name: CALLCTL_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: CALLCTL_HTTP_HOST
  value: "0.0.0.0"
- name: CALLCTL_HTTP_PORT
  value: {{ $v.httpPort | int64 | quote }}
- name: CALLCTL_STARTUP_TIMEOUT_S
  value: {{ $v.startupTimeoutSeconds | toString | quote }}
- name: CALLCTL_TRACING__ENABLED
  value: {{ $v.tracing.enabled | toString | quote }}
{{- with $v.tracing.otlpEndpoint }}
- name: CALLCTL_TRACING__OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: CALLCTL_TRACING__SERVICE_NAME
  value: {{ $v.tracing.serviceName | quote }}
- name: CALLCTL_TRACING__SAMPLE_RATIO
  value: {{ $v.tracing.sampleRatio | toString | quote }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ------------------------------------------------------------------ network policy */}}

{{/* One egress rule from a dict: to (peers; empty: anywhere), ports (numbers, or {port, protocol}). */}}
{{- define "call-control.egressRule" -}}
- ports:
    {{- range .ports }}
    {{- if kindIs "map" . }}
    - port: {{ .port | int }}
      protocol: {{ .protocol | default "TCP" }}
    {{- else }}
    - port: {{ . | int }}
      protocol: TCP
    {{- end }}
    {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Kafka ports: networkPolicy.egress.kafka.ports, else those of kafka.bootstrapServers. */}}
{{- define "call-control.kafkaPorts" -}}
{{- $ports := .Values.networkPolicy.egress.kafka.ports -}}
{{- if not $ports -}}
{{- range splitList "," .Values.kafka.bootstrapServers -}}
{{- $port := regexFind ":[0-9]+$" (trim .) | trimPrefix ":" -}}
{{- if $port -}}{{- $ports = append $ports ($port | int) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $ports | default (list 9092) | uniq | toYaml -}}
{{- end -}}

{{/* Redis port: networkPolicy.egress.redis.ports, else the URL's (when in values), else 6379. */}}
{{- define "call-control.redisPorts" -}}
{{- $ports := .Values.networkPolicy.egress.redis.ports -}}
{{- if and (not $ports) .Values.idempotency.redis.url -}}
{{- $port := regexFind ":[0-9]+$" (urlParse .Values.idempotency.redis.url).host | trimPrefix ":" -}}
{{- if $port -}}{{- $ports = list ($port | int) -}}{{- end -}}
{{- end -}}
{{- $ports | default (list 6379) | toYaml -}}
{{- end -}}

{{/* Proxy port: networkPolicy.egress.proxy.ports, else sinch.proxyUrl's (80/443 by scheme). */}}
{{- define "call-control.proxyPorts" -}}
{{- $ports := .Values.networkPolicy.egress.proxy.ports -}}
{{- if not $ports -}}
{{- $url := urlParse .Values.sinch.proxyUrl -}}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" -}}
{{- $ports = list ($port | default (eq $url.scheme "https" | ternary "443" "80") | int) -}}
{{- end -}}
{{- $ports | toYaml -}}
{{- end -}}
