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
	if min, err := peers.MinAcked(ctx, db); err != nil || min != 2 {
		t.Fatalf("min acked %d, %v", min, err)
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
