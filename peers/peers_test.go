package peers_test

import (
	"errors"
	"testing"
	"time"

	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// TestList: acknowledgements only grow; pending counts the stamped rows
// after the acknowledgement; lag is the age of the first of them; a
// failure is recorded for a peer dialled by URL and cleared by a success.
func TestList(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	if err := shipper.Prepare(t.Context(), db); err != nil { // stamps the log
		t.Fatal(err)
	}
	const peer = "0123456789abcdef0123456789abcdef"
	ctx := t.Context()
	now := time.Now()
	for _, seq := range []int64{1, 2, 0} {
		if err := peers.Acked(ctx, db, peer, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := peers.Succeeded(ctx, db, peer, "http://127.0.0.1:1", now); err != nil {
		t.Fatal(err)
	}
	if err := peers.Failed(ctx, db, "http://127.0.0.1:1", errors.New("connection refused"), now); err != nil {
		t.Fatal(err)
	}
	ps, err := peers.List(ctx, db, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d peers", len(ps))
	}
	p := ps[0]
	if p.NodeID != peer || p.URL != "http://127.0.0.1:1" || p.AckedSeq != 2 || p.Pending != 1 ||
		p.Lag < 59 || p.Lag > 70 || p.LastSuccess == nil || p.LastError != "connection refused" {
		t.Fatalf("peer %+v", p)
	}
	if min, expired, err := peers.Horizon(ctx, db, now, time.Hour); err != nil || min != 2 || expired != 0 {
		t.Fatalf("horizon %d (%d expired), %v", min, expired, err)
	}
	if err := peers.Succeeded(ctx, db, peer, "", now); err != nil {
		t.Fatal(err)
	}
	if ps, _ = peers.List(ctx, db, now); ps[0].LastError != "" || ps[0].URL == "" {
		t.Fatalf("after a success: %+v", ps[0])
	}
	for _, want := range []bool{true, false} { // known, then not any more
		if known, err := peers.Forget(ctx, db, peer); err != nil || known != want {
			t.Fatalf("forget: %v, %v", known, err)
		}
	}
	if ps, _ = peers.List(ctx, db, now); len(ps) != 0 {
		t.Fatalf("a forgotten peer is listed: %+v", ps)
	}
}

// TestExpired: a peer that dials in and was not seen for longer than the
// expiry is left out of the horizon; one seen since, one this node dials
// (a URL) and one never recorded as seen are not; expiry 0 disables it.
func TestExpired(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	ctx, now := t.Context(), time.Now()
	const gone, fresh, hub, unseen = "000000000000000000000000000000aa", "000000000000000000000000000000bb",
		"000000000000000000000000000000cc", "000000000000000000000000000000dd"
	for _, p := range []struct {
		node string
		at   time.Time
		seq  int64
	}{{gone, now.Add(-2 * time.Hour), 1}, {fresh, now.Add(-time.Minute), 5}} {
		if err := peers.Pulled(ctx, db, p.node, p.seq, p.at); err != nil {
			t.Fatal(err)
		}
	}
	if err := peers.Pulled(ctx, db, gone, 0, now.Add(-3*time.Hour)); err != nil { // an older request answered late
		t.Fatal(err)
	}
	if err := peers.Succeeded(ctx, db, hub, "http://127.0.0.1:1", now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for node, seq := range map[string]int64{hub: 3, unseen: 4} {
		if err := peers.Acked(ctx, db, node, seq); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		expiry       time.Duration
		seq, expired int64
	}{{0, 1, 0}, {time.Hour, 3, 1}, {3 * time.Hour, 1, 0}} {
		seq, expired, err := peers.Horizon(ctx, db, now, c.expiry)
		if err != nil || seq != c.seq || expired != c.expired {
			t.Fatalf("expiry %v: horizon %d with %d expired (%v); want %d with %d", c.expiry, seq, expired, err, c.seq, c.expired)
		}
	}
	ps, err := peers.List(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	peers.MarkExpired(ps, now, time.Hour)
	for _, p := range ps {
		if p.Expired != (p.NodeID == gone) {
			t.Fatalf("peer %s: expired %v", p.NodeID, p.Expired)
		}
		if p.NodeID == gone && (p.LastSuccess == nil || p.LastSuccess.Before(now.Add(-2*time.Hour-time.Second)) || p.AckedSeq != 1) {
			t.Fatalf("a late answer moved the departed peer back: %+v", p)
		}
	}
}
