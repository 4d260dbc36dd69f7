{{- /* Sinch callbacks (docs/callbacks.md): settings, and whether a routes ConfigMap is mounted. */}}

{{- define "call-control.callbacks.routesName" -}}
{{ include "call-control.fullname" . }}-callback-routes
{{- end }}

{{- define "call-control.callbacks.hasRoutes" -}}
{{- if and .Values.callbacks.enabled .Values.callbacks.routes }}true{{ end }}
{{- end }}

{{- define "call-control.callbacks.env" -}}
{{- $c := .Values.callbacks }}
- name: CALLCTL_CALLBACKS__ENABLED
  value: {{ $c.enabled | toString | quote }}
{{- if $c.enabled }}
- name: CALLCTL_CALLBACKS__HOST
  value: "0.0.0.0"
- name: CALLCTL_CALLBACKS__PORT
  value: {{ $c.port | int64 | quote }}
- name: CALLCTL_CALLBACKS__PATH
  value: {{ $c.path | quote }}
- name: CALLCTL_CALLBACKS__MAX_SKEW_S
  value: {{ $c.maxSkewSeconds | toString | quote }}
- name: CALLCTL_CALLBACKS__PUBLISH_TIMEOUT_S
  value: {{ $c.publishTimeoutSeconds | toString | quote }}
{{- if include "call-control.callbacks.hasRoutes" . }}
- name: CALLCTL_CALLBACKS__ROUTES_FILE
  value: /etc/callctl/callbacks/routes.json
{{- end }}
{{- end }}
{{- end }}
