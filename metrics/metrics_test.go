package metrics

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Label values chosen by clients cannot grow the series without bound.
func TestLabelsAreBounded(t *testing.T) {
	m := New()
	m.ObserveHTTP("AAA6777", 404)
	m.ObserveHTTP("GET", 200)
	for i := range MaxOperationNames + 50 {
		m.ObserveOperation(fmt.Sprintf("Op%d", i), "ok", time.Millisecond)
	}
	m.ObserveOperation("Op1", "ok", time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`itemsrv_http_requests_total{method="other",status="404"} 1`,
		`itemsrv_http_requests_total{method="GET",status="200"} 1`,
		`itemsrv_graphql_operations_total{operation="other",outcome="ok"} 50`,
		`itemsrv_graphql_operations_total{operation="Op1",outcome="ok"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "AAA6777") || strings.Contains(text, fmt.Sprintf(`"Op%d"`, MaxOperationNames+1)) {
		t.Error("a client-chosen label value got a series of its own past the bound")
	}
}
