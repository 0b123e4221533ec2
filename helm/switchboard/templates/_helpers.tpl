{{/*
Names and labels.
*/}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.fullname" -}}
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

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchboard.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* StatefulSet when durable storage is asked for, Deployment otherwise. */}}
{{- define "switchboard.workloadKind" -}}
{{- if .Values.persistence.enabled }}StatefulSet{{ else }}Deployment{{ end }}
{{- end }}

{{/*
Where the chart mounts files the configuration refers to.
*/}}
{{- define "switchboard.configDir" -}}/etc/switchboard{{- end }}
{{- define "switchboard.tlsDir" -}}/etc/switchboard/tls{{- end }}
{{- define "switchboard.authDir" -}}/etc/switchboard/auth{{- end }}

{{/*
The effective gateway configuration as JSON: .Values.config plus what the chart's own values imply
(mounted TLS and auth files, storage path, NATS URL). Use with fromJson.
*/}}
{{- define "switchboard.effectiveConfig" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $tlsDir := include "switchboard.tlsDir" . }}
{{- $authDir := include "switchboard.authDir" . }}
{{- $tls := .Values.tls }}
{{- if and $tls.existingSecret $tls.http.enabled }}
{{- $http := get $cfg "http" | default dict }}
{{- $_ := set $http "tls_cert" (printf "%s/%s" $tlsDir $tls.certKey) }}
{{- $_ := set $http "tls_key" (printf "%s/%s" $tlsDir $tls.keyKey) }}
{{- $_ := set $cfg "http" $http }}
{{- end }}
{{- if and $tls.existingSecret $tls.mqtt.enabled }}
{{- $mqtt := get $cfg "mqtt" | default dict }}
{{- $_ := set $mqtt "tls_listen" (printf "0.0.0.0:%d" (int $tls.mqtt.containerPort)) }}
{{- $_ := set $mqtt "cert" (printf "%s/%s" $tlsDir $tls.certKey) }}
{{- $_ := set $mqtt "key" (printf "%s/%s" $tlsDir $tls.keyKey) }}
{{- if $tls.mqtt.clientAuth }}
{{- $_ := set $mqtt "client_ca" (printf "%s/%s" $tlsDir $tls.caKey) }}
{{- end }}
{{- $_ := set $cfg "mqtt" $mqtt }}
{{- end }}
{{- $a := .Values.auth }}
{{- if $a.existingSecret }}
{{- $auth := get $cfg "auth" | default dict }}
{{- if $a.passwordFile.enabled }}
{{- $_ := set $auth "password_file" (printf "%s/%s" $authDir $a.passwordFile.key) }}
{{- end }}
{{- if $a.aclFile.enabled }}
{{- $_ := set $auth "acl_file" (printf "%s/%s" $authDir $a.aclFile.key) }}
{{- end }}
{{- if $a.jwtPublicKey.enabled }}
{{- $jwt := get $auth "jwt" | default dict }}
{{- $_ := set $jwt "public_key_file" (printf "%s/%s" $authDir $a.jwtPublicKey.key) }}
{{- $_ := set $auth "jwt" $jwt }}
{{- end }}
{{- $_ := set $cfg "auth" $auth }}
{{- end }}
{{- if .Values.persistence.enabled }}
{{- $storage := get $cfg "storage" | default dict }}
{{- $_ := set $storage "path" .Values.persistence.mountPath }}
{{- $_ := set $cfg "storage" $storage }}
{{- end }}
{{- if .Values.cluster.enabled }}
{{- $cluster := get $cfg "cluster" | default dict }}
{{- $_ := set $cluster "nats_url" .Values.cluster.natsUrl }}
{{- $_ := set $cfg "cluster" $cluster }}
{{- end }}
{{- toJson $cfg }}
{{- end }}

{{/*
TOML rendering of a values tree. Helm reads every YAML number as a float, so whole numbers are
printed as integers (the gateway's integer keys reject 1024.0). Null values are left out, so a key
set to null in values falls back to the gateway's default.
*/}}
{{- define "switchboard.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{- define "switchboard.toml.value" -}}
{{- if kindIs "string" . }}{{ toJson . }}
{{- else if kindIs "bool" . }}{{ . }}
{{- else if kindIs "float64" . }}{{ if eq (floor .) . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if or (kindIs "int" .) (kindIs "int64" .) }}{{ . }}
{{- else if kindIs "slice" . }}[{{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ include "switchboard.toml.value" $e }}{{ end }}]
{{- else if kindIs "map" . }}{ {{- $first := true }}{{ range $k := keys . | sortAlpha }}{{ $v := get $ $k }}{{ if not (kindIs "invalid" $v) }}{{ if not $first }}, {{ else }} {{ end }}{{ $first = false }}{{ include "switchboard.toml.key" $k }} = {{ include "switchboard.toml.value" $v }}{{ end }}{{ end }} }
{{- else }}{{ fail (printf "config: %v (%s) cannot be written as TOML" . (kindOf .)) }}
{{- end }}
{{- end }}

{{/* "true" when the value is a non-empty list of maps (a TOML array of tables). */}}
{{- define "switchboard.toml.isTableArray" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) }}
{{- $all := true }}
{{- range . }}{{ if not (kindIs "map" .) }}{{ $all = false }}{{ end }}{{ end }}
{{- if $all }}true{{ end }}
{{- end }}
{{- end }}

{{/* One TOML table: its plain keys first, then its sub-tables and arrays of tables. */}}
{{- define "switchboard.toml.table" -}}
{{- $prefix := .prefix }}
{{- $t := .table }}
{{- range $k := keys $t | sortAlpha }}
{{- $v := get $t $k }}
{{- if not (or (kindIs "invalid" $v) (kindIs "map" $v) (include "switchboard.toml.isTableArray" $v)) }}
{{ include "switchboard.toml.key" $k }} = {{ include "switchboard.toml.value" $v }}
{{- end }}
{{- end }}
{{- range $k := keys $t | sortAlpha }}
{{- $v := get $t $k }}
{{- $path := include "switchboard.toml.key" $k }}
{{- if $prefix }}{{ $path = printf "%s.%s" $prefix $path }}{{ end }}
{{- if kindIs "map" $v }}

[{{ $path }}]
{{- include "switchboard.toml.table" (dict "prefix" $path "table" $v) }}
{{- else if include "switchboard.toml.isTableArray" $v }}
{{- range $e := $v }}

[[{{ $path }}]]
{{- include "switchboard.toml.table" (dict "prefix" $path "table" $e) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The config file the ConfigMap carries. */}}
{{- define "switchboard.configToml" -}}
# switchboard.toml rendered by the Helm chart {{ include "switchboard.chart" . }} from .Values.config
# (keys: config/examples/full.toml in the switchboard repository). Check it with
# `switchboard check-config --config switchboard.toml`.
{{- include "switchboard.toml.table" (dict "prefix" "" "table" (include "switchboard.effectiveConfig" . | fromJson)) }}
{{ end }}

{{/*
Ports, read from the listen addresses of the effective configuration ("0.0.0.0:8080" -> 8080), so
that containerPorts, Services and probes always follow the config.
*/}}
{{- define "switchboard.listenPort" -}}
{{- $addr := .addr | toString }}
{{- if not (regexMatch "^(\\[[0-9a-fA-F:.]+\\]|[0-9.]+):[0-9]+$" $addr) }}
{{- fail (printf "config.%s = %q: expected an IP:port listen address such as \"0.0.0.0:8080\"" .key $addr) }}
{{- end }}
{{- if regexMatch "^(127\\.|\\[::1\\])" $addr }}
{{- fail (printf "config.%s = %q binds loopback, which no Service or probe can reach; use 0.0.0.0 or [::]" .key $addr) }}
{{- end }}
{{- regexFind "[0-9]+$" $addr }}
{{- end }}

{{- define "switchboard.ports" -}}
{{- $cfg := include "switchboard.effectiveConfig" . | fromJson }}
{{- $out := dict }}
{{- $http := get $cfg "http" | default dict }}
{{- $_ := set $out "http" (include "switchboard.listenPort" (dict "key" "http.listen" "addr" (required "config.http.listen is required (e.g. 0.0.0.0:8080)" $http.listen))) }}
{{- $admin := get $cfg "admin" | default dict }}
{{- $_ := set $out "admin" (include "switchboard.listenPort" (dict "key" "admin.listen" "addr" (required "config.admin.listen is required (e.g. 0.0.0.0:9090)" $admin.listen))) }}
{{- $mqtt := get $cfg "mqtt" | default dict }}
{{- if ne (toString (get $mqtt "enabled")) "false" }}
{{- $_ := set $out "mqtt" (include "switchboard.listenPort" (dict "key" "mqtt.listen" "addr" (required "config.mqtt.listen is required while MQTT is enabled (e.g. 0.0.0.0:1883)" $mqtt.listen))) }}
{{- if $mqtt.tls_listen }}
{{- $_ := set $out "mqtts" (include "switchboard.listenPort" (dict "key" "mqtt.tls_listen" "addr" $mqtt.tls_listen)) }}
{{- end }}
{{- end }}
{{- $ipc := get $cfg "ipc" | default dict }}
{{- if ne (toString (get $ipc "enabled")) "false" }}
{{- $_ := set $out "ipc" (include "switchboard.listenPort" (dict "key" "ipc.listen" "addr" (required "config.ipc.listen is required while the IPC bus is enabled (e.g. 0.0.0.0:7700)" $ipc.listen))) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
Seconds the kubelet waits after SIGTERM: the preStop sleep, then the gateway's drain
(config.shutdown.grace_ms, rounded up), then a margin for flushing and exit.
*/}}
{{- define "switchboard.terminationGracePeriodSeconds" -}}
{{- $shutdown := get .Values.config "shutdown" | default dict }}
{{- $graceMs := int64 (get $shutdown "grace_ms" | default 10000) }}
{{- $graceS := div (add $graceMs 999) 1000 }}
{{- add (int64 .Values.lifecycle.preStopSleepSeconds) $graceS (int64 .Values.lifecycle.shutdownMarginSeconds) }}
{{- end }}
