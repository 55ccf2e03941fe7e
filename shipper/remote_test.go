package shipper_test

import (
	"net/http/httptest"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
)

// TestHubAndSpokesOverHTTP: device A's changes reach device B through the
// hub; nothing goes back to its origin, and what B received through the
// hub is not pushed back to the hub (its version vector has it).
func TestHubAndSpokesOverHTTP(t *testing.T) {
	hub, a, b := node(t), node(t), node(t)
	srv, err := server.New(t.Context(), server.Config{DB: hub, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler()) // 127.0.0.1
	defer ts.Close()
	a.MustExec(`INSERT INTO item VALUES ('1', 'from a', 1, NULL), ('2', 'from a', 2, NULL)`)
	for _, step := range []struct {
		db                     *sqlx.DB
		sent, received, resent int
	}{
		{a, 2, 0, 0}, // A pushes its two rows
		{b, 0, 2, 0}, // B gets them through the hub
		{b, 0, 0, 0}, // B's log now holds them: not pushed back
		{a, 0, 0, 0}, // nor sent back to A, their origin
	} {
		remote, err := shipper.NewRemote(ts.URL, shipper.RemoteConfig{Token: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := shipper.SyncRemote(t.Context(), step.db, remote, applier.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Sent.Applied != step.sent || s.Received.Applied != step.received || s.Sent.Duplicates+s.Received.Duplicates != step.resent {
			t.Fatalf("step %+v: summary %+v", step, s)
		}
	}
}
