package server_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/devices"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/triggers"
)

// hub is a server over a fresh node, with its database.
type hub struct {
	ts  *httptest.Server
	srv *server.Server
	db  *sqlx.DB
}

func newHub(t *testing.T, token string) hub {
	t.Helper()
	db, _ := testutil.NewDB(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	s, err := server.New(t.Context(), server.Config{DB: db, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler()) // binds 127.0.0.1
	t.Cleanup(ts.Close)
	return hub{ts, s, db}
}

func (h hub) add(t *testing.T, name, node string, isHub bool) string {
	t.Helper()
	tok, err := devices.Add(t.Context(), h.db, name, node, isHub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (h hub) notes(t *testing.T) string {
	t.Helper()
	var ids []string
	if err := h.db.Select(&ids, `SELECT id FROM note ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return strings.Join(ids, ",")
}

// node is a made-up node id: 32 times c.
func node(c string) string { return strings.Repeat(c, 32) }

func change(origin string, seq int, id string) string {
	return fmt.Sprintf(`{"table":"note","op":"I","origin":"%s","origin_seq":%d,"hlc":"%d","epoch":%d,"key":{"id":"t:%s"},"set":{"body":"t:x"}}`,
		origin, seq, 5+seq, seq, id)
}

// pushBody is a push from sender of one epoch per change.
func pushBody(sender string, changes ...string) string {
	body := `{"node":"` + sender + `"}` + "\n"
	for i, c := range changes {
		body += fmt.Sprintf(`{"changes":[%s],"through":%d,"epoch_end":true}`+"\n", c, i+1)
	}
	return body
}

// TestDeviceCredentials: the shared token keeps full access; an unknown
// token and a revoked one get 401 saying which; a device's first request
// binds its token to its node id, and a request of another node id gets
// 403 naming both.
func TestDeviceCredentials(t *testing.T) {
	h := newHub(t, "tok")
	a := h.add(t, "phone-a", "", false)
	b := h.add(t, "phone-b", node("b"), false)
	cursor := func(peer string) string { return "/v1/cursor?peer=" + peer }
	for _, tc := range []struct {
		path, token string
		code        int
		says        string
	}{
		{"/v1/health", "", 401, `"auth":"missing"`},
		{"/v1/health", "tsd_nope", 401, `"auth":"unknown"`},
		{"/v1/health", "tok", 200, "node_id"},
		{cursor(node("c")), "tok", 200, "through"},
		{cursor(node("a")), a, 200, "through"}, // binds phone-a
		{cursor(node("a")), a, 200, "through"},
		{"/v1/changes?after=0&limit=10&peer=" + node("c"), a, 403, `device \"phone-a\" is bound to node ` + node("a") + `; this request is of node ` + node("c")},
		{cursor(node("a")), b, 403, "bound to node " + node("b")},
		{cursor(node("b")), b, 200, "through"},
	} {
		code, body := call(t, h.ts, "GET", tc.path, tc.token, "")
		if code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("GET %s with %.8q: %d %s; want %d saying %s", tc.path, tc.token, code, body, tc.code, tc.says)
		}
	}
	list, err := devices.List(t.Context(), h.db)
	if err != nil || len(list) != 2 || list[0].Node != node("a") || list[1].Node != node("b") {
		t.Fatalf("devices after binding: %+v, %v", list, err)
	}

	// Revoked: the next request is refused, whatever it asks.
	if _, err := devices.Revoke(t.Context(), h.db, "phone-a", time.Now()); err != nil {
		t.Fatal(err)
	}
	code, body := call(t, h.ts, "POST", "/v1/changes", a, pushBody(node("a"), change(node("a"), 1, "k")))
	if code != 401 || !strings.Contains(body, `"auth":"revoked"`) || !strings.Contains(body, `device \"phone-a\" was revoked at`) {
		t.Fatalf("revoked token: %d %s", code, body)
	}
	if got := h.notes(t); got != "" {
		t.Fatalf("a refused push applied %q", got)
	}

	// Last seen: written when the server flushes, with the client's version.
	if err := h.srv.FlushSeen(t.Context()); err != nil {
		t.Fatal(err)
	}
	list, _ = devices.List(t.Context(), h.db)
	if list[1].LastSeen == nil || !strings.HasPrefix(list[1].Version, "Go-http-client") {
		t.Fatalf("phone-b seen: %+v", list[1])
	}
}

// TestDevicePushesOwnChangesOnly: a device's push of its own changes
// applies; one with a change of another origin is refused with 403 and
// nothing of that epoch applies, while the epoch before it stays. A hub
// credential and the shared token may relay.
func TestDevicePushesOwnChangesOnly(t *testing.T) {
	h := newHub(t, "tok")
	dev := h.add(t, "phone", node("d"), false)
	relay := h.add(t, "other-hub", "", true)

	code, body := call(t, h.ts, "POST", "/v1/changes", dev, pushBody(node("d"), change(node("d"), 1, "own-1")))
	if code != 200 || !strings.Contains(body, `"applied":1`) {
		t.Fatalf("own change: %d %s", code, body)
	}
	code, body = call(t, h.ts, "POST", "/v1/changes", dev, pushBody(node("d"), change(node("d"), 2, "own-2"), change(node("e"), 1, "foreign")))
	want := `device \"phone\" (node ` + node("d") + `) may not push changes of origin ` + node("e")
	if code != 403 || !strings.Contains(body, want) {
		t.Fatalf("foreign change: %d %s; want 403 saying %s", code, body, want)
	}
	if got := h.notes(t); got != "own-1,own-2" {
		t.Fatalf("after the refused push the hub holds %q, want own-1,own-2", got)
	}
	// One epoch holding both: nothing of it applies.
	both := `{"node":"` + node("d") + `"}` + "\n" + `{"changes":[` + change(node("d"), 3, "own-3") + `,` + change(node("e"), 1, "foreign") + `],"through":3,"epoch_end":true}` + "\n"
	if code, body = call(t, h.ts, "POST", "/v1/changes", dev, both); code != 403 || h.notes(t) != "own-1,own-2" {
		t.Fatalf("mixed epoch: %d %s; hub holds %q", code, body, h.notes(t))
	}

	code, body = call(t, h.ts, "POST", "/v1/changes", relay, pushBody(node("f"), change(node("e"), 1, "relayed")))
	if code != 200 || !strings.Contains(body, `"applied":1`) {
		t.Fatalf("hub credential relaying: %d %s", code, body)
	}
	code, body = call(t, h.ts, "POST", "/v1/changes", "tok", pushBody(node("c"), change(node("e"), 2, "shared")))
	if code != 200 || !strings.Contains(body, `"applied":1`) {
		t.Fatalf("shared token relaying: %d %s", code, body)
	}
}

// TestOpenUntilDevices: a node with neither a shared token nor devices is
// open (it serves loopback only); once it has a device, a request needs
// its token.
func TestOpenUntilDevices(t *testing.T) {
	h := newHub(t, "")
	if code, body := call(t, h.ts, "GET", "/v1/health", "", ""); code != 200 {
		t.Fatalf("open node: %d %s", code, body)
	}
	tok := h.add(t, "phone", "", false)
	for _, tc := range []struct {
		token string
		code  int
	}{{"", 401}, {"anything", 401}, {tok, 200}} {
		if code, body := call(t, h.ts, "GET", "/v1/health", tc.token, ""); code != tc.code {
			t.Errorf("token %.8q: %d %s; want %d", tc.token, code, body, tc.code)
		}
	}
}

// TestSnapshotLeavesDevicesOut: a clone does not get the hub's credentials.
func TestSnapshotLeavesDevicesOut(t *testing.T) {
	h := newHub(t, "tok")
	h.add(t, "phone", "", false)
	req, _ := http.NewRequest("GET", h.ts.URL+"/v1/snapshot", nil)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := h.ts.Client().Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	gz, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(gz)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("snapshot: %d %v", resp.StatusCode, err)
	}
	if bytes.Contains(b, []byte("phone")) {
		t.Fatal("the snapshot holds the device's name")
	}
	path := filepath.Join(t.TempDir(), "clone.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	clone, err := sqlitedb.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer clone.Close()
	if list, err := devices.List(t.Context(), clone); err != nil || len(list) != 0 {
		t.Fatalf("devices in the snapshot: %+v, %v", list, err)
	}
}
