{{/* Names, labels and the rendered lmrelay config, shared by the chart's templates. */}}

{{- define "lmrelay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lmrelay.fullname" -}}
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

{{- define "lmrelay.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lmrelay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lmrelay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lmrelay.labels" -}}
helm.sh/chart: {{ include "lmrelay.chart" . }}
{{ include "lmrelay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "lmrelay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lmrelay.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lmrelay.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret the chart creates from secrets.env. */}}
{{- define "lmrelay.secretName" -}}
{{- printf "%s-env" (include "lmrelay.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Bundled Redis: its name (StatefulSet and Service) and the Secret with its password. */}}
{{- define "lmrelay.redis.fullname" -}}
{{- printf "%s-redis" (include "lmrelay.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lmrelay.redis.secretName" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecret }}
{{- else }}
{{- include "lmrelay.redis.fullname" . }}
{{- end }}
{{- end }}

{{- define "lmrelay.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lmrelay.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Redis's resources carry their own name, so lmrelay's selectors never match them. */}}
{{- define "lmrelay.redis.labels" -}}
helm.sh/chart: {{ include "lmrelay.chart" . }}
{{ include "lmrelay.redis.selectorLabels" . }}
app.kubernetes.io/component: state-store
app.kubernetes.io/part-of: {{ include "lmrelay.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The lmrelay config (YAML): .Values.config with `listen` from containerPort and, when Redis is
used, store.backend and store.url. YAML rather than TOML because Helm reads numbers in values
as floats, which toToml would write as `60.0` where lmrelay expects an integer.
*/}}
{{- define "lmrelay.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $_ := set $config "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $store := deepCopy (get $config "store" | default dict) }}
{{- if .Values.redis.enabled }}
{{- $_ := set $store "backend" "redis" }}
{{- $_ := set $store "url" (printf "redis://:${LMRELAY_REDIS_PASSWORD}@%s:6379/0" (include "lmrelay.redis.fullname" .)) }}
{{- else if .Values.externalRedis.url }}
{{- $_ := set $store "backend" "redis" }}
{{- $_ := set $store "url" .Values.externalRedis.url }}
{{- end }}
{{- if $store }}
{{- $_ := set $config "store" $store }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* Whether the pods share state in Redis. */}}
{{- define "lmrelay.sharedStore" -}}
{{- if or .Values.redis.enabled .Values.externalRedis.url (eq (dig "store" "backend" "" (.Values.config | default dict)) "redis") }}true{{- end }}
{{- end }}
