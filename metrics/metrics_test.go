package metrics_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/metrics"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// TestScrape: counters follow what was observed; per-peer gauges (of the
// peers this node dials), the count of devices that dial in and open
// conflicts are read from the database at the scrape; no series names a
// device.
func TestScrape(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	if err := shipper.Prepare(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	const peer = "0123456789abcdef0123456789abcdef"
	if err := peers.Acked(t.Context(), db, peer, 1); err != nil {
		t.Fatal(err)
	}
	if err := peers.Succeeded(t.Context(), db, peer, "http://hub.example:7480", time.Now()); err != nil {
		t.Fatal(err)
	}
	const device, away = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	if err := peers.Pulled(t.Context(), db, device, 3, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := peers.Pulled(t.Context(), db, away, 3, time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(db, nil)
	m.Observe(metrics.Pull, applier.Result{Applied: 5, Conflicts: 1, Held: 2}, nil)
	m.Observe(metrics.Push, applier.Result{Applied: 7}, nil)
	m.Observe(metrics.Push, applier.Result{}, errors.New("connection refused"))
	m.Overloaded()
	m.Overloaded()
	m.Served("POST /v2/sync", 200, 3*time.Millisecond)
	m.Rejected(401)
	m.Lag(2 * time.Second)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"trigsync_changes_applied_total 5",
		"trigsync_changes_sent_total 7",
		"trigsync_conflicts_total 1",
		"trigsync_held_changes_total 2",
		`trigsync_errors_total{op="push"} 1`,
		`trigsync_errors_total{op="pull"} 0`,
		"trigsync_overloaded_total 2",
		`trigsync_peer_pending_changes{peer="` + peer + `"} 2`,
		`trigsync_peer_lag_seconds{peer="` + peer + `"}`,
		`trigsync_open_conflicts{kind="held"} 0`,
		"trigsync_changelog_last_seq 3",
		"process_resident_memory_bytes",
		`trigsync_peers{kind="dialed"} 1`,
		`trigsync_peers{kind="dial-in"} 2`,
		`trigsync_peers_seen{window="1h"} 1`,
		`trigsync_request_duration_seconds_count{route="POST /v2/sync"} 1`,
		`trigsync_rejected_total{reason="unauthorized"} 1`,
		`trigsync_rejected_total{reason="forbidden"} 0`,
		"trigsync_sync_lag_seconds_count 1",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %q in\n%s", want, b)
		}
	}
	for _, id := range []string{device, away} {
		if strings.Contains(string(b), id) {
			t.Errorf("a series names device %s:\n%s", id, b)
		}
	}
}
