package server_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
	"github.com/trigsync/trigsync/verify"
)

func verifyNode(t *testing.T) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
		INSERT INTO note SELECT printf('n%05d', i), 'body ' || i, i FROM c`)
	return db
}

// A comparison through the /v1/verify routes finds what a local one does.
func TestVerifyOverHTTP(t *testing.T) {
	a, b := verifyNode(t), verifyNode(t)
	s, err := server.New(t.Context(), server.Config{DB: b, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	peer, err := shipper.NewRemote(ts.URL, shipper.RemoteConfig{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := verify.NewDB(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	r, err := verify.Compare(t.Context(), local, peer.Verifier(), verify.Options{})
	if err != nil || !r.Equal() || r.Rows != 3000 || r.Requests != 2 {
		t.Fatalf("equal nodes: %+v, %v", r, err)
	}
	b.MustExec(`UPDATE note SET n = 1.0 WHERE id = 'n02000'`)
	b.MustExec(`DELETE FROM note WHERE id = 'n00007'`)
	r, err = verify.Compare(t.Context(), local, peer.Verifier(), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range r.Diffs {
		key, _ := d.Key.MarshalJSON()
		peer, _ := d.Peer.MarshalJSON()
		got = append(got, fmt.Sprintf("%s %s %v %s", key, d.Side, d.Columns, peer))
	}
	want := `{"id":"t:n00007"} local [] {}; {"id":"t:n02000"} both [n] {"n":"r:1"}`
	if strings.Join(got, "; ") != want {
		t.Fatalf("got %s\nwant %s", strings.Join(got, "; "), want)
	}
	// Many rows only on the peer: the peer splits the ranges (POST /v1/verify/split).
	b.MustExec(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000)
		INSERT INTO note SELECT printf('n00000-%04d', i), 'extra', i FROM c`)
	r, err = verify.Compare(t.Context(), local, peer.Verifier(), verify.Options{Limit: 1})
	if err != nil || r.Differences != 1002 || len(r.Diffs) != 1 {
		t.Fatalf("1,000 rows more on the peer: %d differences, %+v, %v", r.Differences, r.Diffs, err)
	}
}

func TestVerifyRefusesBadRequests(t *testing.T) {
	ts, _ := newServer(t)
	many := "[" + strings.Repeat(`{"after":null,"through":null},`, verify.MaxRanges) + `{}]`
	for _, tc := range []struct {
		method, path, token, body string
		code                      int
		says                      string
	}{
		{"GET", "/v1/verify/tables", "", "", 401, "bearer token"},
		{"POST", "/v1/verify/digests", "", `{}`, 401, "bearer token"},
		{"POST", "/v1/verify/digests", "tok", `{"table":"nope","ranges":[{}]}`, 400, "not a replicated table"},
		{"POST", "/v1/verify/digests", "tok", `{"table":"_trigsync_changelog","ranges":[{}]}`, 400, "not a replicated table"},
		{"POST", "/v1/verify/split", "tok", `{"table":"note","ranges":[{}],"parts":1}`, 400, "parts must be"},
		{"POST", "/v1/verify/digests", "tok", `{"table":"note","ranges":` + many + `}`, 400, "ranges"},
		{"POST", "/v1/verify/digests", "tok", `{"table":"note","ranges":[{"after":["i:1","i:2"]}]}`, 400, "bad range"},
		{"POST", "/v1/verify/digests", "tok", `{"table":"note","ranges":[{"after":["x:1"]}]}`, 400, "type tag"},
		{"POST", "/v1/verify/rows", "tok", `{"table":"note","ranges":[{}],"limit":100000}`, 400, "limit must be"},
		{"POST", "/v1/verify/rows", "tok", `{"table":"` + strings.Repeat("n", server.MaxVerifyBytes) + `","ranges":[{}],"limit":1}`, 413, "too large"},
	} {
		code, body := call(t, ts, tc.method, tc.path, tc.token, tc.body)
		if code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s %s %.60s: %d %s; want %d saying %q", tc.method, tc.path, tc.body, code, body, tc.code, tc.says)
		}
	}
	if code, body := call(t, ts, "GET", "/v1/verify/tables", "tok", ""); code != 200 || body != `{"tables":[{"name":"note","key":["id"],"columns":["body","id"]}]}`+"\n" {
		t.Fatalf("tables: %d %s", code, body)
	}
}
