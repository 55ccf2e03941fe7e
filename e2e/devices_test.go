package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// deviceEntry is one line of `trigsync devices list --json`.
type deviceEntry struct {
	Name     string  `json:"name"`
	Node     string  `json:"node_id"`
	Revoked  *string `json:"revoked_at"`
	LastSeen *string `json:"last_seen"`
	Version  string  `json:"version"`
	Pending  *int64  `json:"pending"`
}

func listDevices(t *testing.T, hub string) map[string]deviceEntry {
	t.Helper()
	out := map[string]deviceEntry{}
	dec := json.NewDecoder(strings.NewReader(trigsync(t, "devices", "list", "--json", hub)))
	for dec.More() {
		var d deviceEntry
		if err := dec.Decode(&d); err != nil {
			t.Fatal(err)
		}
		out[d.Name] = d
	}
	return out
}

// addDevice runs `trigsync devices add` and returns the token it printed.
func addDevice(t *testing.T, hub, name string) string {
	t.Helper()
	r := run(t, nil, binary, "devices", "add", name, hub)
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(tok, "tsd_") || !strings.Contains(r.stderr, "only once") {
		t.Fatalf("devices add %s: exit %d, %q %s", name, r.code, r.stdout, r.stderr)
	}
	return tok
}

// TestDeviceCredentialsProcesses: a hub serves with device credentials only
// (no shared token); `devices add` made while it runs gives each device a
// token it syncs with; `devices revoke`, run in another process while
// serve runs, refuses that device's next sync with 401 naming the
// revocation, nothing applied, while the other device goes on.
func TestDeviceCredentialsProcesses(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "dev-a", "dev-b")
	hub, devA, devB := nodes[0], nodes[1], nodes[2]
	url := startServe(t, hub, "")
	tokA, tokB := addDevice(t, hub, "dev-a"), addDevice(t, hub, "dev-b")
	sync := func(dev, tok string) result {
		t.Helper()
		return run(t, []string{"TRIGSYNC_TOKEN=" + tok}, binary, "sync", dev, "--peer", url)
	}
	syncOK := func(dev, tok string) {
		t.Helper()
		if r := sync(dev, tok); r.code != 0 {
			t.Fatalf("sync %s: exit %d\n%s%s", filepath.Base(dev), r.code, r.stdout, r.stderr)
		}
	}

	shell(t, devA, `INSERT INTO note VALUES ('a1', 'from A', 1)`)
	shell(t, devB, `INSERT INTO note VALUES ('b1', 'from B', 2)`)
	if r := sync(devA, ""); r.code != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "the request has none") {
		t.Fatalf("sync without a token: exit %d, %s", r.code, r.stderr)
	}
	if r := sync(devA, "tsd_not-a-device"); r.code != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "neither the shared token nor a device's") {
		t.Fatalf("sync with an unknown token: exit %d, %s", r.code, r.stderr)
	}
	syncOK(devA, tokA)
	syncOK(devB, tokB)
	syncOK(devA, tokA)
	want := "'a1'|'from A'|1\n'b1'|'from B'|2\n"
	for _, db := range nodes {
		if got := noteDump(t, db); got != want {
			t.Fatalf("%s:\n%s\nwant:\n%s", filepath.Base(db), got, want)
		}
	}
	list := listDevices(t, hub)
	if list["dev-a"].Node != nodeID(t, devA) || list["dev-b"].Node != nodeID(t, devB) || list["dev-a"].Pending == nil {
		t.Fatalf("devices after the first syncs: %+v", list)
	}

	// A's token bound to A's node: B's file with A's token is refused.
	if r := sync(devB, tokA); r.code != 1 || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "is bound to node "+nodeID(t, devA)) {
		t.Fatalf("sync of B with A's token: exit %d, %s", r.code, r.stderr)
	}

	r := run(t, nil, binary, "devices", "revoke", "dev-a", hub)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "device dev-a revoked at ") {
		t.Fatalf("revoke: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, binary, "devices", "revoke", "dev-c", hub); r.code != 2 || !strings.Contains(r.stderr, `no device named "dev-c"`) {
		t.Fatalf("revoke of an unknown device: exit %d, %s", r.code, r.stderr)
	}
	shell(t, devA, `INSERT INTO note VALUES ('a2', 'after the revoke', 3)`)
	before := noteDump(t, hub)
	if r := sync(devA, tokA); r.code != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, `device "dev-a" was revoked at`) {
		t.Fatalf("sync with a revoked token: exit %d, %s", r.code, r.stderr)
	}
	if got := noteDump(t, hub); got != before {
		t.Fatalf("a revoked device's sync changed the hub:\n%s", got)
	}
	shell(t, devB, `INSERT INTO note VALUES ('b2', 'B goes on', 4)`)
	syncOK(devB, tokB)
	if got := noteDump(t, hub); !strings.Contains(got, "'b2'") || strings.Contains(got, "'a2'") {
		t.Fatalf("hub after B's sync:\n%s", got)
	}

	// serve writes when devices were last seen every few seconds.
	pollUntil(t, "last seen of dev-b", func() bool {
		d := listDevices(t, hub)["dev-b"]
		return d.LastSeen != nil && strings.HasPrefix(d.Version, "trigsync/")
	})
	if d := listDevices(t, hub)["dev-a"]; d.Revoked == nil {
		t.Fatalf("dev-a: %+v", d)
	}
}

// TestDevicePushOfAnotherOriginRefused: a device holding another device's
// change that the hub lacks (the two synced file to file) may not push it
// with its own token: 403 naming both, nothing applied. Once the change's
// origin pushed it itself, the other device's syncs work again.
func TestDevicePushOfAnotherOriginRefused(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "dev-a", "dev-b")
	hub, devA, devB := nodes[0], nodes[1], nodes[2]
	url := startServe(t, hub, "")
	tokA, tokB := addDevice(t, hub, "dev-a"), addDevice(t, hub, "dev-b")
	sync := func(dev, tok string) result {
		t.Helper()
		return run(t, []string{"TRIGSYNC_TOKEN=" + tok}, binary, "sync", dev, "--peer", url)
	}
	shell(t, devA, `INSERT INTO note VALUES ('a1', 'from A', 1)`)
	if r := sync(devA, tokA); r.code != 0 {
		t.Fatalf("sync A: exit %d, %s", r.code, r.stderr)
	}
	shell(t, devA, `INSERT INTO note VALUES ('a2', 'A, not on the hub', 2)`)
	trigsync(t, "sync", devB, "--peer", devA) // file to file: B holds a2, of origin A
	before := noteDump(t, hub)

	r := sync(devB, tokB)
	want := `may not push changes of origin ` + nodeID(t, devA)
	if r.code != 1 || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, `device "dev-b" (node `+nodeID(t, devB)+`)`) || !strings.Contains(r.stderr, want) {
		t.Fatalf("B pushing A's change: exit %d, %s; want 403 saying %s", r.code, r.stderr, want)
	}
	if got := noteDump(t, hub); got != before {
		t.Fatalf("the refused push changed the hub:\n%s\nwas:\n%s", got, before)
	}

	// A pushes its own change; then B lacks nothing the hub lacks.
	if r := sync(devA, tokA); r.code != 0 {
		t.Fatalf("sync A: exit %d, %s", r.code, r.stderr)
	}
	if r := sync(devB, tokB); r.code != 0 {
		t.Fatalf("sync B after A: exit %d, %s", r.code, r.stderr)
	}
	checkEachChangeOnce(t, hub, devA, devB)
}
