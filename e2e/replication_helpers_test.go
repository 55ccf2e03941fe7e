package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trigsync/trigsync/changelog"
)

// Helpers shared by the replication tests (topology, crashes, faults,
// architectures, deadlocks): nodes made from one installed database,
// their decoded logs, and serve processes that can be killed and restarted.

// noteTable is the table the replication tests write.
const noteTable = `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER);`

// newReplicas makes one node per name in a new temporary directory: the
// first is created in WAL mode with ddl and installed, the others are
// VACUUM INTO copies of it given their own node ids.
func newReplicas(t *testing.T, ddl string, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n+".db")
	}
	shell(t, paths[0], "PRAGMA journal_mode=WAL;"+ddl)
	trigsync(t, "install", paths[0])
	for _, p := range paths[1:] {
		shell(t, paths[0], "VACUUM INTO '"+p+"'")
		trigsync(t, "reset-node-id", p)
	}
	return paths
}

// insertRows inserts n rows into note in one transaction, with ids
// prefix-1 … prefix-n, by the sqlite3 shell (a recursive CTE).
func insertRows(t *testing.T, db, prefix string, n int) {
	t.Helper()
	shell(t, db, fmt.Sprintf(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %d)
		INSERT INTO note SELECT '%s-' || x, 'row ' || x || ' of %s', x FROM i;`, n, prefix, prefix))
}

// shellErr runs SQL through the sqlite3 shell (with a busy timeout) from
// any goroutine and returns its failure instead of failing the test.
func shellErr(db, sql string) error {
	out, err := exec.Command("sqlite3", "-bail", "-cmd", ".timeout 10000", db, sql).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sqlite3 %s: %v: %s", filepath.Base(db), err, out)
	}
	return nil
}

// noteDump is the note table with every value quoted: equal dumps, equal rows.
func noteDump(t *testing.T, db string) string {
	t.Helper()
	return shell(t, db, `SELECT quote(id), quote(body), quote(n) FROM note ORDER BY id`)
}

// noteCount is the number of rows of the note table.
func noteCount(t *testing.T, db string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(shell(t, db, `SELECT count(*) FROM note`)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkIntegrity fails unless SQLite finds the file sound.
func checkIntegrity(t *testing.T, db string) {
	t.Helper()
	if got := shell(t, db, `PRAGMA integrity_check`); got != "ok\n" {
		t.Fatalf("integrity_check of %s: %s", filepath.Base(db), got)
	}
}

// logRow is one line of `trigsync changes --json`, with what identifies
// a change on every node: its origin and its seq there.
type logRow struct {
	Seq       int64                      `json:"seq"`
	HLC       string                     `json:"hlc"`
	Table     string                     `json:"table"`
	Op        string                     `json:"op"`
	Origin    string                     `json:"origin"`
	OriginSeq int64                      `json:"origin_seq"`
	Key       map[string]changelog.Value `json:"key"`
}

// changeID names one change across nodes.
type changeID struct {
	origin string
	seq    int64
}

// readLog decodes a node's whole changelog, a page at a time (`changes`
// prints fewer rows than --limit when their values pass 8 MiB).
func readLog(t *testing.T, db string) []logRow {
	t.Helper()
	var out []logRow
	for since := int64(0); ; {
		r := run(t, nil, binary, "changes", "--json", "--since", strconv.FormatInt(since, 10), "--limit", "1000000", db)
		if r.code != 0 {
			t.Fatalf("changes %s: exit %d: %s", filepath.Base(db), r.code, r.stderr)
		}
		n := len(out)
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		for dec.More() {
			var c logRow
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("decode changes of %s: %v", filepath.Base(db), err)
			}
			out = append(out, c)
		}
		if len(out) == n {
			return out
		}
		since = out[len(out)-1].Seq
	}
}

// logRows is the number of rows of a node's changelog, read by the
// sqlite3 shell: a plain read, which does not wait for serve's writes.
func logRows(t *testing.T, db string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(shell(t, db, `SELECT count(*) FROM _trigsync_changelog`)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkEachChangeOnce fails unless every node's log holds each change
// (origin, origin seq) at most once and all the logs hold the same
// changes. It returns how many changes each origin made.
func checkEachChangeOnce(t *testing.T, dbs ...string) map[string]int {
	t.Helper()
	perOrigin, _ := eachChangeOnce(t, func(logRow) bool { return false }, dbs...)
	return perOrigin
}

// eachChangeOnce is checkEachChangeOnce leaving out the rows skip names;
// it also returns how many it left out of each node's log.
func eachChangeOnce(t *testing.T, skip func(logRow) bool, dbs ...string) (perOrigin, skipped map[string]int) {
	t.Helper()
	var first map[changeID]bool
	perOrigin, skipped = map[string]int{}, map[string]int{}
	for i, db := range dbs {
		seen := map[changeID]bool{}
		var dups []string
		for _, c := range readLog(t, db) {
			if skip(c) {
				skipped[filepath.Base(db)]++
				continue
			}
			id := changeID{c.Origin, c.OriginSeq}
			if seen[id] {
				dups = append(dups, fmt.Sprintf("seq %d: %s/%d %s %s", c.Seq, shortID(c.Origin), c.OriginSeq, c.Op, keyString(c.Key)))
			}
			seen[id] = true
		}
		if len(dups) > 0 {
			t.Errorf("%s's log holds %d changes more than once, e.g. %s", filepath.Base(db), len(dups), strings.Join(dups[:min(5, len(dups))], "; "))
		}
		if i == 0 {
			first = seen
			for id := range seen {
				perOrigin[id.origin]++
			}
			continue
		}
		if missing, extra := setDiff(first, seen), setDiff(seen, first); len(missing)+len(extra) > 0 {
			t.Errorf("%s's log differs from %s's: lacks %d changes %v, has %d more %v", filepath.Base(db), filepath.Base(dbs[0]),
				len(missing), missing[:min(5, len(missing))], len(extra), extra[:min(5, len(extra))])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return perOrigin, skipped
}

func setDiff(a, b map[changeID]bool) []string {
	var out []string
	for id := range a {
		if !b[id] {
			out = append(out, fmt.Sprintf("%s/%d", shortID(id.origin), id.seq))
		}
	}
	sort.Strings(out)
	return out
}

func shortID(node string) string { return node[:min(8, len(node))] }

func keyString(k map[string]changelog.Value) string {
	b, _ := json.Marshal(k)
	return string(b)
}

// syncBuffer collects a process's output for the test log; it is safe
// for the goroutine exec copies output with and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveProcess is a `trigsync serve` on a fixed loopback address that a
// test can SIGKILL and start again on the same address. Its stderr goes
// to the test log when the test fails.
type serveProcess struct {
	t      *testing.T
	name   string
	addr   string
	args   []string
	env    []string
	log    *syncBuffer
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has exited
	err    error         // its exit status, once done is closed
	killed bool          // the test killed the current process
}

// newServeProcess starts serve on db at addr (from freeAddr), with the
// token and the extra flags, and waits until it listens. It is stopped
// with SIGTERM when the test ends.
func newServeProcess(t *testing.T, db, token, addr string, extra ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{t: t, name: filepath.Base(db), addr: addr, log: &syncBuffer{},
		args: append([]string{"serve", db, "--listen", addr}, extra...), env: []string{"TRIGSYNC_TOKEN=" + token}}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("serve %s logged:\n%s", p.name, p.log)
		}
	})
	p.waitListening()
	return p
}

// url is the base URL peers reach the process at.
func (p *serveProcess) url() string { return "http://" + p.addr }

// start starts the process without waiting for it to listen.
func (p *serveProcess) start() {
	p.t.Helper()
	fmt.Fprintf(p.log, "--- start %s\n", time.Now().Format("15:04:05.000"))
	p.killed = false
	p.cmd = exec.Command(binary, p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done, cmd := make(chan struct{}), p.cmd
	p.done = done
	go func() { p.err = cmd.Wait(); close(done) }()
}

// waitListening waits until the current process accepts connections.
func (p *serveProcess) waitListening() {
	p.t.Helper()
	waitFor(p.t, "serve "+p.name+" to listen on "+p.addr, func() bool {
		select {
		case <-p.done:
			p.t.Fatalf("serve %s exited: %v\n%s", p.name, p.err, p.log)
		default:
		}
		out := p.log.String()
		return strings.Contains(out[strings.LastIndex(out, "--- start "):], "msg=listening")
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serveProcess) kill() {
	p.t.Helper()
	p.killed = true
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	fmt.Fprintf(p.log, "--- killed %s\n", time.Now().Format("15:04:05.000"))
}

// restart starts the process again on the same address and waits until
// it listens.
func (p *serveProcess) restart() {
	p.t.Helper()
	p.start()
	p.waitListening()
}

// stop ends the process with SIGTERM (SIGKILL after 30 s) and reports an
// unclean shutdown, or an exit the test did not cause.
func (p *serveProcess) stop() {
	select {
	case <-p.done:
		if !p.killed {
			p.t.Errorf("serve %s exited by itself: %v", p.name, p.err)
		}
		return
	default:
	}
	p.killed = true
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Errorf("serve %s did not shut down cleanly on SIGTERM: %v", p.name, p.err)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		p.t.Errorf("serve %s did not stop within 30 s of SIGTERM", p.name)
	}
}
