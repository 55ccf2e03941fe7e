package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServe runs `trigsync serve` on a free loopback port and returns its
// base URL; the process is stopped with SIGTERM when the test ends.
func startServe(t *testing.T, db, token string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, binary, "serve", db, "--listen", "127.0.0.1:0")
	cmd.Env = append(cmd.Environ(), "TRIGSYNC_TOKEN="+token)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve did not shut down cleanly on SIGTERM: %v", err)
		}
		cancel()
	})
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start listening")
		return ""
	}
}

// TestSyncOverHTTP: a device syncs with a node running serve on loopback;
// requests without the right token are refused and change nothing.
func TestSyncOverHTTP(t *testing.T) {
	dir := t.TempDir()
	hub, device := filepath.Join(dir, "hub.db"), filepath.Join(dir, "device.db")
	shell(t, hub, `PRAGMA journal_mode=WAL; CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER);`)
	trigsync(t, "install", hub)
	shell(t, hub, "VACUUM INTO '"+device+"'")
	trigsync(t, "reset-node-id", device)
	shell(t, hub, `INSERT INTO note VALUES ('h', 'from the hub', 1);`)
	shell(t, device, `INSERT INTO note VALUES ('d', 'from the device', 2); INSERT INTO note VALUES ('x', x'00ff', 3);`)
	url := startServe(t, hub, "s3cret")

	before := shell(t, hub, `SELECT * FROM note ORDER BY id`)
	for _, tok := range []string{"", "wrong"} {
		r := run(t, []string{"TRIGSYNC_TOKEN=" + tok}, binary, "sync", device, "--peer", url)
		if r.code != 1 || !strings.Contains(r.stderr, "401") {
			t.Fatalf("token %q: exit %d, %s", tok, r.code, r.stderr)
		}
	}
	if after := shell(t, hub, `SELECT * FROM note ORDER BY id`); after != before {
		t.Fatal("a refused request changed the hub")
	}

	r := run(t, []string{"TRIGSYNC_TOKEN=s3cret"}, binary, "sync", device, "--peer", url)
	if r.code != 0 || r.stdout != "sent 2, received 1, conflicts 0, held 0\n" {
		t.Fatalf("sync: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, []string{"TRIGSYNC_TOKEN=s3cret"}, binary, "sync", device, "--peer", url)
	if r.stdout != "sent 0, received 0, conflicts 0, held 0\n" {
		t.Fatalf("second sync: %q %s", r.stdout, r.stderr)
	}
	dh, dd := shell(t, hub, `SELECT id, quote(body), n FROM note ORDER BY id`), shell(t, device, `SELECT id, quote(body), n FROM note ORDER BY id`)
	if dh != dd || strings.Count(dh, "\n") != 3 {
		t.Fatalf("hub:\n%s\ndevice:\n%s", dh, dd)
	}
}

// TestDemo runs the README's main command: two nodes on loopback agree.
func TestDemo(t *testing.T) {
	out := trigsync(t, "demo", t.TempDir())
	if !strings.Contains(out, "sent 2, received 2, conflicts 0, held 0") || !strings.Contains(out, "both nodes agree") {
		t.Fatalf("demo:\n%s", out)
	}
}
