package devices_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/devices"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/triggers"
)

func newNode(t *testing.T) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	return db
}

var t0 = time.UnixMilli(1_800_000_000_000).UTC()

func TestAddLookupRevoke(t *testing.T) {
	db := newNode(t)
	ctx := t.Context()
	if has, err := devices.Any(ctx, db); err != nil || has {
		t.Fatalf("a new node has devices: %v, %v", has, err)
	}
	tok, err := devices.Add(ctx, db, "phone-1.a_b", "", false, t0)
	if err != nil || !strings.HasPrefix(tok, devices.TokenPrefix) || len(tok) != len(devices.TokenPrefix)+43 {
		t.Fatalf("add: %q, %v", tok, err)
	}
	other, err := devices.Add(ctx, db, "gateway", strings.Repeat("a", 32), true, t0)
	if err != nil || other == tok {
		t.Fatalf("second add: %q, %v", other, err)
	}
	// The table holds hashes only.
	var stored int
	db.Get(&stored, `SELECT count(*) FROM _trigsync_devices WHERE instr(CAST(token_hash AS TEXT), 'tsd_') > 0 OR length(token_hash) != 32`)
	if stored != 0 {
		t.Fatal("a token is stored as such")
	}

	for _, tc := range []struct {
		name, node string
		want       error
	}{
		{"phone-1.a_b", "", devices.ErrExists},
		{"", "", devices.ErrBadName},
		{"a b", "", devices.ErrBadName},
		{strings.Repeat("x", 65), "", devices.ErrBadName},
		{"ok", "not-a-node", nil},
	} {
		if _, err := devices.Add(ctx, db, tc.name, tc.node, false, t0); err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("add %q node %q: %v, want %v", tc.name, tc.node, err, tc.want)
		}
	}

	d, found, err := devices.Lookup(ctx, db, tok)
	if err != nil || !found || d.Name != "phone-1.a_b" || d.Node != "" || d.Hub || !d.Created.Equal(t0) || d.Revoked != nil {
		t.Fatalf("lookup: %+v %v %v", d, found, err)
	}
	if _, found, _ := devices.Lookup(ctx, db, tok+"x"); found {
		t.Fatal("a wrong token was found")
	}
	if d, _, _ := devices.Lookup(ctx, db, other); d.Name != "gateway" || !d.Hub || d.Node != strings.Repeat("a", 32) {
		t.Fatalf("lookup gateway: %+v", d)
	}

	// Binding: the first node wins, for good.
	n1, n2 := strings.Repeat("1", 32), strings.Repeat("2", 32)
	if bound, err := devices.Bind(ctx, db, "phone-1.a_b", n1); err != nil || bound != n1 {
		t.Fatalf("bind: %q %v", bound, err)
	}
	if bound, err := devices.Bind(ctx, db, "phone-1.a_b", n2); err != nil || bound != n1 {
		t.Fatalf("second bind: %q %v", bound, err)
	}
	if _, err := devices.Bind(ctx, db, "nobody", n1); !errors.Is(err, devices.ErrUnknown) {
		t.Fatalf("bind unknown: %v", err)
	}

	later := t0.Add(time.Hour)
	d, err = devices.Revoke(ctx, db, "phone-1.a_b", later)
	if err != nil || d.Revoked == nil || !d.Revoked.Equal(later) {
		t.Fatalf("revoke: %+v %v", d, err)
	}
	if d, _ = devices.Revoke(ctx, db, "phone-1.a_b", later.Add(time.Hour)); !d.Revoked.Equal(later) {
		t.Fatalf("a second revoke moved the time: %v", d.Revoked)
	}
	if _, err := devices.Revoke(ctx, db, "nobody", later); !errors.Is(err, devices.ErrUnknown) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if d, found, _ := devices.Lookup(ctx, db, tok); !found || d.Revoked == nil {
		t.Fatalf("lookup of a revoked token: %+v %v", d, found)
	}
	list, err := devices.List(ctx, db)
	if err != nil || len(list) != 2 || list[0].Name != "gateway" || list[1].Name != "phone-1.a_b" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if has, _ := devices.Any(ctx, db); !has {
		t.Fatal("Any: false with devices")
	}
}

// TestSeen: last_seen is written at most once a minute per device unless
// its version changes, many devices in one flush.
func TestSeen(t *testing.T) {
	db := newNode(t)
	ctx := t.Context()
	for _, n := range []string{"a", "b"} {
		if _, err := devices.Add(ctx, db, n, "", false, t0); err != nil {
			t.Fatal(err)
		}
	}
	var s devices.Seen
	s.Note("a", "trigsync/1", t0)
	s.Note("b", "trigsync/1", t0)
	s.Note("a", "trigsync/1", t0.Add(30*time.Second)) // within the minute: not again
	if err := s.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	seen := func(name string) (time.Time, string) {
		t.Helper()
		list, _ := devices.List(ctx, db)
		for _, d := range list {
			if d.Name == name && d.LastSeen != nil {
				return *d.LastSeen, d.Version
			}
		}
		t.Fatalf("%s not seen: %+v", name, list)
		return time.Time{}, ""
	}
	if at, v := seen("a"); !at.Equal(t0) || v != "trigsync/1" {
		t.Fatalf("a: %v %q", at, v)
	}
	s.Note("a", "trigsync/1", t0.Add(50*time.Second))
	s.Note("b", "trigsync/2", t0.Add(50*time.Second)) // a new version: at once
	s.Note("a", "trigsync/1", t0.Add(61*time.Second))
	if err := s.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	if at, _ := seen("a"); !at.Equal(t0.Add(61 * time.Second)) {
		t.Fatalf("a after a minute: %v", at)
	}
	if at, v := seen("b"); !at.Equal(t0.Add(50*time.Second)) || v != "trigsync/2" {
		t.Fatalf("b after an upgrade: %v %q", at, v)
	}
	if err := s.Flush(ctx, db); err != nil { // nothing pending: no transaction
		t.Fatal(err)
	}
}

// TestReport: a bound device's pending changes, lag and open conflicts of
// its origin come from the peers and conflicts of the node.
func TestReport(t *testing.T) {
	db := newNode(t)
	ctx := t.Context()
	dev := strings.Repeat("d", 32)
	devices.Add(ctx, db, "bound", dev, false, t0)
	devices.Add(ctx, db, "unbound", "", false, t0)
	db.MustExec(`INSERT INTO note VALUES ('h1', 'on the hub')`)
	if err := peers.Acked(ctx, db, dev, 0); err != nil {
		t.Fatal(err)
	}
	change := changelog.Change{Table: "note", Op: changelog.Insert, Origin: dev, OriginSeq: 1}
	b, _ := json.Marshal(change)
	db.MustExec(`INSERT INTO _trigsync_conflicts(kind, at, tbl, pk, change, error) VALUES ('error', '2026-01-01T00:00:00Z', 'note', '["t:x"]', ?, 'no')`, string(b))
	list, err := devices.Report(ctx, db, time.Now())
	if err != nil || len(list) != 2 {
		t.Fatalf("report: %+v %v", list, err)
	}
	if r := list[0]; r.Name != "bound" || r.Pending == nil || r.Lag == nil || r.Conflicts != 1 {
		t.Fatalf("bound: %+v", r)
	}
	if r := list[1]; r.Name != "unbound" || r.Pending != nil || r.Conflicts != 0 {
		t.Fatalf("unbound: %+v", r)
	}
}
