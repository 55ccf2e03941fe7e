package shipper_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
)

// countingTransport counts the requests of a sync, by path.
type countingTransport struct {
	n     atomic.Int64
	paths []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	c.paths = append(c.paths, r.Method+" "+r.URL.Path)
	return http.DefaultTransport.RoundTrip(r)
}

// syncCounting syncs db with the hub at url and returns the summary and
// the requests it made.
func syncCounting(t *testing.T, db *sqlx.DB, url string) (shipper.Summary, []string) {
	t.Helper()
	ct := &countingTransport{}
	remote, err := shipper.NewRemote(url, shipper.RemoteConfig{Token: "tok", Transport: ct})
	if err != nil {
		t.Fatal(err)
	}
	s, err := shipper.SyncRemote(t.Context(), db, remote, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, ct.paths
}

// TestExchangeInOneRequest: a device's first sync with a hub is the v1
// exchange; later ones are one POST /v2/sync each, with changes both ways
// and none twice, and the hub records what the device acknowledged of its
// log (with the push, or with the cursor's move, or not at all); a hub without the route (an older version), or one
// whose record of the device differs from the device's, gets the v1
// exchange, and the nodes still agree.
func TestExchangeInOneRequest(t *testing.T) {
	hub, dev := node(t), node(t)
	srv, err := server.New(t.Context(), server.Config{DB: hub, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	var noV2 atomic.Bool
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if noV2.Load() && strings.HasPrefix(r.URL.Path, "/v2/") {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()

	hubID, err := changelog.NodeID(t.Context(), hub)
	if err != nil {
		t.Fatal(err)
	}
	devID, err := changelog.NodeID(t.Context(), dev)
	if err != nil {
		t.Fatal(err)
	}
	dev.MustExec(`INSERT INTO item VALUES ('d1', 'from the device', 1, NULL)`)
	s, paths := syncCounting(t, dev, ts.URL)
	if s.Sent.Applied != 1 || len(paths) < 3 || paths[0] != "GET /v1/health" {
		t.Fatalf("first sync: %+v over %v", s, paths)
	}
	for i, step := range []struct {
		hub, dev  string // SQL on each side before the sync
		sent, got int
	}{
		{"", "", 0, 0},
		{`INSERT INTO item VALUES ('h1', 'from the hub', 1, NULL)`, `INSERT INTO item VALUES ('d2', 'from the device', 2, NULL)`, 1, 1},
		{`UPDATE item SET name = 'hub edit' WHERE id = 'd1'`, `UPDATE item SET qty = 7 WHERE id = 'h1'`, 1, 1},
		{"", "", 0, 0},
	} {
		if step.hub != "" {
			hub.MustExec(step.hub)
			dev.MustExec(step.dev)
		}
		knows, err := applier.Cursor(t.Context(), dev, hubID)
		if err != nil {
			t.Fatal(err)
		}
		s, paths := syncCounting(t, dev, ts.URL)
		if len(paths) != 1 || paths[0] != "POST /v2/sync" || s.Sent.Applied != step.sent || s.Received.Applied != step.got ||
			s.Sent.Duplicates+s.Received.Duplicates != 0 {
			t.Fatalf("step %d: %+v over %v", i, s, paths)
		}
		if acked, _, err := peers.Contact(t.Context(), hub, devID); err != nil || acked != knows {
			t.Fatalf("step %d: the hub holds the device's acknowledgement %d (%v), the device sent %d", i, acked, err, knows)
		}
	}
	// An older hub: v1, the same outcome.
	noV2.Store(true)
	hub.MustExec(`INSERT INTO item VALUES ('h2', 'from the hub', 3, NULL)`)
	if s, paths := syncCounting(t, dev, ts.URL); s.Received.Applied != 1 || paths[0] != "POST /v2/sync" || len(paths) < 3 {
		t.Fatalf("a hub without /v2: %+v over %v", s, paths)
	}
	noV2.Store(false)
	// The device's record of what the hub holds of it is behind (an answer
	// lost): the hub asks for the v1 exchange, which sends nothing twice.
	dev.MustExec(`UPDATE _trigsync_peers SET acked_seq = 0`)
	dev.MustExec(`INSERT INTO item VALUES ('d3', 'from the device', 4, NULL)`)
	if s, paths := syncCounting(t, dev, ts.URL); s.Sent.Applied != 1 || s.Sent.Duplicates != 0 || len(paths) < 3 {
		t.Fatalf("a stale record: %+v over %v", s, paths)
	}
	if _, paths := syncCounting(t, dev, ts.URL); len(paths) != 1 {
		t.Fatalf("after the v1 exchange: %v", paths)
	}
	if dh, dd := testutil.Dump(t, hub), testutil.Dump(t, dev); dh != dd {
		t.Fatalf("hub and device differ:\n%s\n%s", dh, dd)
	}
}
