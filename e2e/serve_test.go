package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startServe runs `trigsync serve` on a free loopback port and returns its
// base URL; the process is stopped with SIGTERM when the test ends.
func startServe(t *testing.T, db, token string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	if len(args) == 0 {
		args = []string{"--listen", "127.0.0.1:0"}
	}
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve", db}, args...)...)
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

	// Prometheus metrics, behind the token like every route.
	if code, _ := get(t, url+"/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("metrics without a token: %d", code)
	}
	code, body := get(t, url+"/metrics", "s3cret")
	// No series per device: the device is counted among the peers that
	// dial in, and seen.
	if code != http.StatusOK || !strings.Contains(body, "trigsync_changes_applied_total 2") ||
		!strings.Contains(body, `trigsync_peers{kind="dial-in"} 1`) || !strings.Contains(body, `trigsync_peers_seen{window="1h"} 1`) ||
		!strings.Contains(body, `trigsync_request_duration_seconds_count{route="GET /v1/changes"}`) ||
		strings.Contains(body, nodeID(t, device)) {
		t.Fatalf("metrics: %d\n%s", code, body)
	}
}

// get fetches url with a bearer token ("" for none).
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDemo runs the README's main command: two nodes serving each other on
// loopback replicate a sqlite3 shell write, then agree after concurrent edits.
func TestDemo(t *testing.T) {
	out := trigsync(t, "demo", t.TempDir())
	if !regexp.MustCompile(`the hub has it \d+ ms later`).MatchString(out) || !strings.Contains(out, "both nodes agree") {
		t.Fatalf("demo:\n%s", out)
	}
}

// freeAddr returns a loopback address no one listens on (for a moment).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls f until it returns true, for at most 30 s.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestTwoServesReplicate: two nodes running serve with each other as peer
// replicate writes the sqlite3 shell makes, in both directions, by
// themselves.
func TestTwoServesReplicate(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	shell(t, a, `PRAGMA journal_mode=WAL; CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER);`)
	trigsync(t, "install", a)
	shell(t, a, "VACUUM INTO '"+b+"'")
	trigsync(t, "reset-node-id", b)
	addrA, addrB := freeAddr(t), freeAddr(t)
	startServe(t, a, "tok", "--listen", addrA, "--peer", "http://"+addrB, "--pull-interval", "1s")
	startServe(t, b, "tok", "--listen", addrB, "--peer", "http://"+addrA, "--pull-interval", "1s")

	shell(t, a, `INSERT INTO note VALUES ('1', 'written on a', 1)`)
	waitFor(t, "a's row on b", func() bool { return shell(t, b, `SELECT count(*) FROM note`) == "1\n" })
	shell(t, b, `UPDATE note SET n = 2 WHERE id = '1'`)
	shell(t, a, `UPDATE note SET body = 'edited on a' WHERE id = '1'`)
	want := "1|edited on a|2\n"
	waitFor(t, "both edits on both nodes", func() bool {
		return shell(t, a, `SELECT * FROM note`) == want && shell(t, b, `SELECT * FROM note`) == want
	})

	// Both write at once, so that their pushes to each other overlap.
	var wg sync.WaitGroup
	for _, db := range []string{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				exec.Command("sqlite3", "-cmd", ".timeout 10000", db,
					fmt.Sprintf("INSERT INTO note VALUES ('%s-%d', 'x', %d)", filepath.Base(db), i, i)).Run()
			}
		}()
	}
	wg.Wait()
	count := `SELECT count(*) FROM note`
	waitFor(t, "61 rows on both nodes", func() bool {
		return shell(t, a, count) == "61\n" && shell(t, b, count) == "61\n"
	})
	dump := `SELECT * FROM note ORDER BY id`
	if da, db := shell(t, a, dump), shell(t, b, dump); da != db {
		t.Fatalf("nodes differ:\n%s\n%s", da, db)
	}
}
