package e2e

import (
	"strings"
	"testing"
)

// TestARM64DeviceSyncsWithAMD64Hub: the static linux/arm64 build, under
// qemu, syncs a device database over HTTP with a hub that the host's
// amd64 build serves. Writes on both sides — values of every type, and
// concurrent edits of different columns of one row — converge; both
// builds decode the device's log alike.
func TestARM64DeviceSyncsWithAMD64Hub(t *testing.T) {
	qemu, arm := arm64(t)
	if r := run(t, nil, qemu, arm, "version"); !strings.Contains(r.stdout, "linux/arm64") {
		t.Fatalf("version under qemu: %q %s", r.stdout, r.stderr)
	}
	nodes := newReplicas(t, noteTable, "hub", "device")
	hub, device := nodes[0], nodes[1]
	url := startServe(t, hub, "hub-token")
	armSync := func() string {
		t.Helper()
		r := run(t, []string{"TRIGSYNC_TOKEN=hub-token"}, qemu, arm, "sync", device, "--peer", url)
		if r.code != 0 {
			t.Fatalf("arm64 sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}

	shell(t, hub, `INSERT INTO note VALUES ('hub-1', 'from the amd64 hub', 9223372036854775807);
		INSERT INTO note VALUES ('shared', 'written on the hub', 0);`)
	shell(t, device, `INSERT INTO note VALUES ('device-1', x'00ff10', 0.1);
		INSERT INTO note VALUES ('device-2', NULL, -9223372036854775808);
		INSERT INTO note VALUES ('device-3', '', 2.5);`)
	if out := armSync(); out != "sent 3, received 2, conflicts 0, held 0\n" {
		t.Fatalf("first sync: %q", out)
	}

	// Both edit the shared row while apart, each a different column.
	shell(t, hub, `UPDATE note SET body = 'edited on the hub' WHERE id = 'shared'`)
	shell(t, device, `UPDATE note SET n = 64 WHERE id = 'shared'; DELETE FROM note WHERE id = 'device-3';`)
	if out := armSync(); out != "sent 2, received 1, conflicts 0, held 0\n" {
		t.Fatalf("second sync: %q", out)
	}
	if out := armSync(); out != "sent 0, received 0, conflicts 0, held 0\n" {
		t.Fatalf("third sync: %q", out)
	}

	dump := `SELECT quote(id), typeof(body), quote(body), typeof(n), quote(n) FROM note ORDER BY id`
	dh, dd := shell(t, hub, dump), shell(t, device, dump)
	if dh != dd {
		t.Fatalf("hub:\n%s\ndevice:\n%s", dh, dd)
	}
	if !strings.Contains(dh, "'shared'|text|'edited on the hub'|integer|64") || strings.Contains(dh, "device-3") ||
		!strings.Contains(dh, "'device-1'|blob|X'00FF10'|real|0.1") || strings.Count(dh, "\n") != 4 {
		t.Fatalf("rows after sync:\n%s", dh)
	}
	checkEachChangeOnce(t, hub, device)

	// The same log, decoded by each build.
	amdLog, armLog := changes(t, []string{binary}, device), changes(t, []string{qemu, arm}, device)
	if len(amdLog) != 8 || len(armLog) != len(amdLog) {
		t.Fatalf("device's log: %d changes decoded by amd64, %d by arm64; want 8", len(amdLog), len(armLog))
	}
	for i := range amdLog {
		if a, b := amdLog[i], armLog[i]; a.Seq != b.Seq || a.HLC != b.HLC || a.Origin != b.Origin || keyString(a.Key) != keyString(b.Key) || keyString(a.Set) != keyString(b.Set) {
			t.Errorf("change %d: amd64 %+v, arm64 %+v", i, a, b)
		}
	}
}
