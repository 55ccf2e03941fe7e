package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDepartedDevice: a device that stays away while the hub expires it
// and prunes its log past the device's cursor (gc --device-expiry while
// serve runs) comes back with offline writes (each device syncs with a
// credential of its own): a sync that cannot push
// (unreachable hub, refused token) changes nothing; then one sync pushes
// its changes, rebuilds it from the hub's snapshot, says so, and keeps the
// old file. Every row is on every node once.
func TestDepartedDevice(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "a", "b")
	hub, a, b := nodes[0], nodes[1], nodes[2]
	const token = "s3cret"
	url := startServe(t, hub, token, "--listen", "127.0.0.1:0", "--gc-interval", "0")
	env := []string{"TRIGSYNC_TOKEN=" + token}
	// The devices sync with credentials of their own, bound to their node
	// ids: a's rebuild gives it a new one, which its credential then binds.
	creds := map[string][]string{}
	for _, db := range []string{a, b} {
		tok := strings.TrimSpace(trigsync(t, "devices", "add", filepath.Base(db), hub))
		creds[db] = []string{"TRIGSYNC_TOKEN=" + tok}
	}
	sync := func(db string) result {
		t.Helper()
		r := run(t, creds[db], binary, "sync", db, "--peer", url)
		if r.code != 0 {
			t.Fatalf("sync %s: exit %d\n%s%s", filepath.Base(db), r.code, r.stdout, r.stderr)
		}
		return r
	}
	shell(t, a, `INSERT INTO note VALUES ('a-0', 'before', 0);`)
	sync(a)
	sync(b)
	oldID := nodeID(t, a)
	// a goes offline and writes; b goes on through the hub.
	insertRows(t, a, "off", 3)
	shell(t, a, `UPDATE note SET body = 'changed offline' WHERE id = 'a-0';`)
	insertRows(t, b, "b", 3)
	shell(t, b, `INSERT INTO note VALUES ('b-last', 'b', 9);`)
	// The hub expires a (not seen for 2 s) and prunes past a's cursor;
	// b, just synced, holds the log (a slow machine may let b expire too:
	// then nothing is pruned and the round is tried again).
	const expiry = "2s"
	time.Sleep(2500 * time.Millisecond)
	pruned := false
	for try := 0; try < 10 && !pruned; try++ {
		sync(b)
		sync(b) // acknowledges what the first received (docs/PROTOCOL.md, /v2/sync)
		out := trigsync(t, "gc", hub, "--retention", "0s", "--device-expiry", expiry)
		pruned = strings.Contains(out, "; 1 expired peers left out") && !strings.HasPrefix(out, "pruned 0 ")
	}
	if !pruned {
		t.Fatal("the hub never pruned past the departed device")
	}
	var st struct {
		Peers []struct {
			NodeID  string `json:"node_id"`
			Expired bool   `json:"expired"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(trigsync(t, "status", hub, "--json", "--device-expiry", expiry)), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprintf("%+v", st.Peers), "NodeID:"+oldID+" Expired:true") {
		t.Fatalf("status does not show %s as expired: %+v", oldID, st.Peers)
	}

	// Syncs that cannot push change nothing.
	before := noteDump(t, a)
	for _, c := range []struct {
		env  []string
		peer string
	}{{env, "http://" + freeAddr(t)}, {[]string{"TRIGSYNC_TOKEN=wrong"}, url}} {
		if r := run(t, c.env, binary, "sync", a, "--peer", c.peer); r.code != 1 {
			t.Fatalf("sync with %s: exit %d\n%s", c.peer, r.code, r.stderr)
		}
		if m, _ := filepath.Glob(a + ".pre-rebuild-*"); noteDump(t, a) != before || len(m) != 0 || nodeID(t, a) != oldID {
			t.Fatalf("a sync that could not push changed the device (kept %v)", m)
		}
	}

	r := sync(a)
	for _, want := range []string{"away past the peer's log horizon", "pushed its 4 unsent changes", "rebuilt from the peer's snapshot", "the old file is kept at " + a + ".pre-rebuild-"} {
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stderr, want) {
			t.Fatalf("the sync's message lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	kept, _ := filepath.Glob(a + ".pre-rebuild-*")
	if len(kept) != 1 || noteDump(t, kept[0]) != before {
		t.Fatalf("the old file was not kept as it was: %v", kept)
	}
	if nodeID(t, a) == oldID {
		t.Fatal("the rebuilt device kept its old node id")
	}
	shell(t, a, `INSERT INTO note VALUES ('a-after', 'after the rebuild', 10);`)
	sync(a)
	sync(b)
	sync(a)
	want := noteDump(t, hub)
	if noteDump(t, a) != want || noteDump(t, b) != want || noteCount(t, hub) != 9 ||
		!strings.Contains(want, "'changed offline'") {
		t.Fatalf("nodes differ or lack rows:\nhub %s\na %s\nb %s", want, noteDump(t, a), noteDump(t, b))
	}
	for _, db := range nodes {
		seen := map[changeID]bool{}
		for _, c := range readLog(t, db) {
			id := changeID{c.Origin, c.OriginSeq}
			if seen[id] {
				t.Fatalf("%s's log holds %s/%d twice", filepath.Base(db), shortID(c.Origin), c.OriginSeq)
			}
			seen[id] = true
		}
		checkIntegrity(t, db)
	}
	if _, err := os.Stat(a + ".rebuild"); !os.IsNotExist(err) {
		t.Fatalf("the snapshot file stayed: %v", err)
	}
}
