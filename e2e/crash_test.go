package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Crash tests: a trigsync process is killed with SIGKILL in the middle of
// moving changes, started again, and the nodes still converge, with every
// row exactly once, every change once in each log, and sound files.

// pollUntil checks f every few milliseconds, for at most 30 s: fast
// enough to catch a process half-way through its work.
func pollUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// syncProcess is a `trigsync sync DB --peer URL` running in the background.
type syncProcess struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

func startSync(t *testing.T, db, url, token string) *syncProcess {
	t.Helper()
	p := &syncProcess{cmd: exec.Command(binary, "sync", db, "--peer", url), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "TRIGSYNC_TOKEN="+token)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *syncProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// wait waits up to a minute for the process to exit by itself.
func (p *syncProcess) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("sync did not finish within a minute:\n%s", p.out.String())
	}
}

// syncUntilOK runs sync until it exits 0, at most five times (a sync
// started while its peer restarts may give up), and returns its output.
func syncUntilOK(t *testing.T, db, url, token string) string {
	t.Helper()
	var r result
	for range 5 {
		if r = run(t, []string{"TRIGSYNC_TOKEN=" + token}, binary, "sync", db, "--peer", url); r.code == 0 {
			return r.stdout
		}
	}
	t.Fatalf("sync %s: exit %d five times:\n%s%s", filepath.Base(db), r.code, r.stdout, r.stderr)
	return ""
}

// insertInEpochs inserts epochs × perEpoch rows into note, ids
// prefix-E-N: one transaction at a time, each stamped (by `trigsync
// changes`) before the next, so that each is an epoch of its own and a
// peer applies and commits them one by one.
func insertInEpochs(t *testing.T, db, prefix string, epochs, perEpoch int) {
	t.Helper()
	for i := range epochs {
		insertRows(t, db, fmt.Sprintf("%s-%d", prefix, i), perEpoch)
		trigsync(t, "changes", "--limit", "1", db)
	}
}

// checkConverged fails unless both nodes hold want rows, the same ones,
// every change once in each log, and pass integrity_check.
func checkConverged(t *testing.T, want int, a, b string) {
	t.Helper()
	for _, db := range []string{a, b} {
		if n := noteCount(t, db); n != want {
			t.Errorf("%s has %d rows, want %d", filepath.Base(db), n, want)
		}
		checkIntegrity(t, db)
	}
	if noteDump(t, a) != noteDump(t, b) {
		t.Error("the nodes hold different rows")
	}
	checkEachChangeOnce(t, a, b)
}

// TestKillServeWhileItApplies: a node running serve is killed with SIGKILL
// while it applies a large push (20,000 rows in four epochs)
// and started again: what it committed stays, the transaction it was in
// is gone, and the next sync sends the rest — nothing lost, nothing twice.
func TestKillServeWhileItApplies(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	const rows = 20000
	insertInEpochs(t, a, "a", 4, rows/4)
	pb := newServeProcess(t, b, "tok", freeAddr(t))

	s := startSync(t, a, pb.url(), "tok")
	pollUntil(t, "b to commit part of the push", func() bool { return noteCount(t, b) > 0 })
	pb.kill()
	partial := noteCount(t, b)
	if partial >= rows {
		t.Fatalf("the push was over before the kill: b has %d rows", partial)
	}
	t.Logf("killed b's serve with %d of %d rows committed", partial, rows)
	checkIntegrity(t, b)
	pb.restart()
	s.wait(t) // it may have finished by retrying, or given up
	t.Logf("the interrupted sync: %v: %s", s.err, s.out.String())

	syncUntilOK(t, a, pb.url(), "tok")
	if out := syncUntilOK(t, a, pb.url(), "tok"); out != "sent 0, received 0, conflicts 0, held 0\n" {
		t.Errorf("a second sync moved changes: %q", out)
	}
	checkConverged(t, rows, a, b)
}

// TestKillServeWhileItShips: a node running serve with a peer is killed
// with SIGKILL half-way through pushing 20,000 changes and started again;
// it resumes and the peer ends with every row once. Both sides also write
// while it is down, and those changes meet as well.
func TestKillServeWhileItShips(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	const rows = 20000
	insertInEpochs(t, a, "a", 4, rows/4)
	pb := newServeProcess(t, b, "tok", freeAddr(t))
	pa := newServeProcess(t, a, "tok", freeAddr(t), "--peer", pb.url(), "--pull-interval", "1s")

	pollUntil(t, "b to commit part of a's push", func() bool { return noteCount(t, b) > 0 })
	pa.kill()
	partial := noteCount(t, b)
	if partial >= rows {
		t.Fatalf("the push was over before the kill: b has %d rows", partial)
	}
	t.Logf("killed a's serve with %d of %d rows on b", partial, rows)
	checkIntegrity(t, a)

	shell(t, a, `INSERT INTO note VALUES ('a-while-down', 'written on a while its serve was down', 1)`)
	shell(t, b, `INSERT INTO note VALUES ('b-while-down', 'written on b while a was down', 2)`)
	pa.restart()
	want := rows + 2
	waitFor(t, fmt.Sprintf("%d rows on both nodes", want), func() bool {
		return noteCount(t, a) == want && noteCount(t, b) == want
	})
	checkConverged(t, want, a, b)
}

// TestKillSyncMidRun: `trigsync sync` is killed with SIGKILL twice — while
// the serve it talks to applies its push, and while it applies what it
// pulls — and then run again: both nodes end with all 40,000 rows, once.
func TestKillSyncMidRun(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	const rows = 20000 // on each node
	insertInEpochs(t, a, "a", 4, rows/4)
	insertInEpochs(t, b, "b", 4, rows/4)
	pb := newServeProcess(t, b, "tok", freeAddr(t))

	s := startSync(t, a, pb.url(), "tok")
	pollUntil(t, "b to commit part of a's push", func() bool { return noteCount(t, b) > rows })
	s.kill()
	if n := noteCount(t, b); n >= 2*rows {
		t.Fatalf("the push was over before the kill: b has %d rows", n)
	}

	s = startSync(t, a, pb.url(), "tok")
	pollUntil(t, "a to commit part of b's changes", func() bool { return noteCount(t, a) > rows })
	s.kill()
	if n := noteCount(t, a); n >= 2*rows {
		t.Fatalf("the pull was over before the kill: a has %d rows", n)
	}
	checkIntegrity(t, a)

	syncUntilOK(t, a, pb.url(), "tok")
	if out := syncUntilOK(t, a, pb.url(), "tok"); out != "sent 0, received 0, conflicts 0, held 0\n" {
		t.Errorf("a second sync moved changes: %q", out)
	}
	checkConverged(t, 2*rows, a, b)
}
