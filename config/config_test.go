package config

import (
	"strings"
	"testing"
)

func TestBadSettingsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"max wait below the first wait", map[string]string{"EXTERNAL_API_RETRY_WAIT": "10s", "EXTERNAL_API_RETRY_MAX_WAIT": "1s"}, "EXTERNAL_API_RETRY_MAX_WAIT"},
		{"metrics port out of range", map[string]string{"METRICS_ADDR": "127.0.0.1:99999"}, "METRICS_ADDR"},
		{"pprof address without a port", map[string]string{"PPROF_ADDR": "localhost"}, "PPROF_ADDR"},
		{"negative retries", map[string]string{"EXTERNAL_API_MAX_RETRIES": "-1"}, "EXTERNAL_API_MAX_RETRIES"},
		{"unknown database scheme", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	if _, err := Load(func(k string) string { return map[string]string{"METRICS_ADDR": "127.0.0.1:9090"}[k] }); err != nil {
		t.Fatalf("a good METRICS_ADDR was refused: %v", err)
	}
}
