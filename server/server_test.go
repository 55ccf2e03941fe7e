package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/triggers"
)

func newServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	db, _ := testutil.NewDB(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	s, err := server.New(t.Context(), server.Config{DB: db, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler()) // binds 127.0.0.1
	t.Cleanup(ts.Close)
	id, _ := changelog.NodeID(t.Context(), db)
	return ts, id
}

func call(t *testing.T, ts *httptest.Server, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRefusesBadRequests(t *testing.T) {
	ts, id := newServer(t)
	peer := strings.Repeat("a", 32)
	for _, tc := range []struct {
		method, path, token, body string
		code                      int
		says                      string
	}{
		{"GET", "/v1/health", "", "", 401, "missing or wrong bearer token"},
		{"GET", "/v1/health", "nope", "", 401, "bearer token"},
		{"GET", "/v1/changes?peer=" + peer + "&after=x&limit=1", "tok", "", 400, "after, acked and limit"},
		{"GET", "/v1/changes?peer=" + peer + "&after=1&acked=2&limit=1", "tok", "", 400, "acked ≤ after"},
		{"GET", "/v1/changes?peer=bad&after=0&limit=1", "tok", "", 400, "not a node id"},
		{"GET", "/v1/cursor?peer=" + id, "tok", "", 409, "reset-node-id"},
		{"POST", "/v1/changes", "tok", "not json", 400, "first line"},
		{"POST", "/v1/changes", "tok", `{"node":"` + peer + `"}` + "\n{\"changes\": [", 400, "chunk after seq 0"},
	} {
		code, body := call(t, ts, tc.method, tc.path, tc.token, tc.body)
		if code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s %s: %d %s; want %d saying %q", tc.method, tc.path, code, body, tc.code, tc.says)
		}
	}
	if code, body := call(t, ts, "GET", "/v1/health", "tok", ""); code != 200 || !strings.Contains(body, id) {
		t.Fatalf("health: %d %s", code, body)
	}
}

// A push whose body ends inside an epoch commits nothing of that epoch.
func TestPushCutShortRollsBack(t *testing.T) {
	ts, _ := newServer(t)
	peer := strings.Repeat("b", 32)
	change := `{"table":"note","op":"I","origin":"` + peer + `","origin_seq":1,"hlc":"5","epoch":1,"key":{"id":"t:k"},"set":{"body":"t:x"}}`
	body := `{"node":"` + peer + `"}` + "\n" + `{"changes":[` + change + `],"through":1,"epoch_end":false}` + "\n"
	code, out := call(t, ts, "POST", "/v1/changes", "tok", body)
	var res struct {
		Through int64 `json:"through"`
		Applied int   `json:"applied"`
	}
	json.Unmarshal([]byte(out), &res)
	if code != 200 || res.Through != 0 || res.Applied != 0 {
		t.Fatalf("partial epoch: %d %s", code, out)
	}
	body = strings.Replace(body, `"epoch_end":false`, `"epoch_end":true`, 1)
	code, out = call(t, ts, "POST", "/v1/changes", "tok", body)
	json.Unmarshal([]byte(out), &res)
	if code != 200 || res.Through != 1 || res.Applied != 1 {
		t.Fatalf("whole epoch: %d %s", code, out)
	}
}
