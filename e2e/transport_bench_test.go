package e2e

// Transport benchmarks: real trigsync processes on 127.0.0.1, the databases
// written by the sqlite3 shell. Each does its work once, whatever b.N; run
// them with
//
//	go test -run '^$' -bench Transport -benchtime 1x ./e2e/
//
// TRIGSYNC_BENCH_ROWS scales the large databases down for a quick run
// (default 1,000,000). Figures and method: docs/BENCHMARKS.md, "Transport".

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trigsync/trigsync/internal/sqlitedb"
)

// benchDDL is the 5-column table of every benchmark (shipper's BenchmarkApply too).
const benchDDL = `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price REAL, note TEXT);`

// benchToken is the bearer token every benchmark process uses.
const benchToken = "bench"

// benchTimeout bounds every process a benchmark starts.
const benchTimeout = 20 * time.Minute

// benchRows is TRIGSYNC_BENCH_ROWS, or 1,000,000.
func benchRows(tb testing.TB) int {
	s := os.Getenv("TRIGSYNC_BENCH_ROWS")
	if s == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 {
		tb.Fatalf("TRIGSYNC_BENCH_ROWS=%q: want a row count of at least 100", s)
	}
	return n
}

// benchRun runs a process with extra environment variables env ("K=V")
// to its end and fails unless it exits 0.
func benchRun(tb testing.TB, env []string, name string, args ...string) benchProcess {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "TRIGSYNC_TOKEN="+benchToken), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	p := benchProcess{start: time.Now()}
	err := cmd.Run()
	p.took = time.Since(p.start)
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errb.String())
	}
	p.stdout, p.stderr, p.state = out.String(), errb.String(), cmd.ProcessState
	return p
}

// benchProcess is a process that ran to its end.
type benchProcess struct {
	stdout, stderr string
	state          *os.ProcessState // CPU time, peak RSS
	start          time.Time
	took           time.Duration // from start to exit
}

// benchPair makes two nodes of the item table in dir, as the README does:
// a WAL database, install, VACUUM INTO, reset-node-id; both in WAL mode.
func benchPair(tb testing.TB, dir string) (a, b string) {
	tb.Helper()
	a, b = filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	shell(tb, a, `PRAGMA journal_mode=WAL; `+benchDDL)
	benchRun(tb, nil, binary, "install", a)
	shell(tb, a, "VACUUM INTO '"+b+"'")
	benchRun(tb, nil, binary, "reset-node-id", b)
	// VACUUM INTO writes a rollback-journal file: the copy needs WAL again,
	// or readers wait for every write transaction of serve.
	shell(tb, b, `PRAGMA journal_mode=WAL`)
	return a, b
}

// benchFill inserts n rows into db's item table through the sqlite3 shell,
// in transactions of 250,000 rows made by a recursive CTE, then stamps the
// log (`trigsync changes --limit 1`), so that no timed command stamps them.
func benchFill(tb testing.TB, db string, n int) {
	tb.Helper()
	var sql strings.Builder
	for start := 0; start < n; start += 250_000 {
		end := min(start+250_000, n)
		fmt.Fprintf(&sql, `BEGIN; WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c WHERE i < %d)
INSERT INTO item SELECT printf('01JD%%022d', i), 'a name', i, i / 4.0, 'a note' FROM c; COMMIT;
`, start, end-1)
	}
	shell(tb, db, sql.String())
	benchRun(tb, nil, binary, "changes", "--limit", "1", db)
}

// benchID is the key benchFill gives row i.
func benchID(i int) string { return fmt.Sprintf("01JD%022d", i) }

// benchServe is a running `trigsync serve`.
type benchServe struct {
	url    string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	once   sync.Once
	read   chan struct{} // closed when its stderr is read to the end
	mu     sync.Mutex
	lines  []string // what it logged, up to maxLogLines
}

const maxLogLines = 200_000

// startBenchServe runs `trigsync serve db args…` (default: a free loopback
// port) with extra environment variables env ("K=V") and returns once it
// listens; it is stopped when the benchmark ends.
func startBenchServe(tb testing.TB, db string, env []string, args ...string) *benchServe {
	tb.Helper()
	if len(args) == 0 {
		args = []string{"--listen", "127.0.0.1:0"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve", db}, args...)...)
	cmd.Env = append(append(os.Environ(), "TRIGSYNC_TOKEN="+benchToken), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &benchServe{cmd: cmd, cancel: cancel, read: make(chan struct{})}
	tb.Cleanup(func() { s.stop(tb) })
	addr := make(chan string, 1)
	go func() {
		defer close(s.read)
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			s.mu.Lock()
			if len(s.lines) < maxLogLines {
				s.lines = append(s.lines, sc.Text())
			}
			s.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			} else if (strings.Contains(sc.Text(), "level=ERROR") || strings.Contains(sc.Text(), "level=WARN")) &&
				!strings.Contains(sc.Text(), "connection refused") { // a peer starting after this one
				tb.Logf("serve %s: %s", filepath.Base(db), sc.Text())
			}
		}
	}()
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-time.After(30 * time.Second):
		tb.Fatal("serve did not start listening")
	}
	return s
}

// stop ends the process with SIGTERM and waits for it and for the end of
// its log.
func (s *benchServe) stop(tb testing.TB) {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		<-s.read // at the latest when benchTimeout kills the process
		if err := s.cmd.Wait(); err != nil {
			tb.Errorf("serve did not shut down cleanly on SIGTERM: %v", err)
		}
		s.cancel()
	})
}

// logTimes returns the times of the serve's log lines that contain every
// one of substrings.
func (s *benchServe) logTimes(substrings ...string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return logTimes(s.lines, substrings...)
}

// logTimes returns the times (ms precision) of the text-format log lines
// that contain every one of substrings, in order.
func logTimes(lines []string, substrings ...string) []time.Time {
	var out []time.Time
next:
	for _, l := range lines {
		for _, sub := range substrings {
			if !strings.Contains(l, sub) {
				continue next
			}
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func (s *benchServe) peakRSS(tb testing.TB) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(b)
	if m == nil {
		tb.Fatalf("no VmHWM in /proc/%d/status", s.cmd.Process.Pid)
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb * 1024
}

// cpu is the CPU time (user + system) the process has used so far.
func (s *benchServe) cpu(tb testing.TB) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// benchSync runs `trigsync sync db --peer url` with extra environment env
// and checks that it sent `sent` changes and received none.
func benchSync(tb testing.TB, env []string, db, url string, sent int) benchProcess {
	tb.Helper()
	p := benchRun(tb, env, binary, "sync", db, "--peer", url)
	if want := fmt.Sprintf("sent %d, received 0, conflicts 0, held 0\n", sent); p.stdout != want {
		tb.Fatalf("sync %s: %q, want %q", filepath.Base(db), p.stdout, want)
	}
	return p
}

// BenchmarkTransport1M moves a million row changes (inserts of 5-column
// rows, written by the sqlite3 shell in transactions of 250,000 and
// stamped) from node A to node B over loopback: B runs serve, A runs
// `trigsync sync A --peer URL`. Only that sync is timed. Its debug log
// splits it in phases: prepare (integrating A's changes into A's merge
// state), push (B applies while A streams), pull (A reads B's log for
// what it lacks). The baseline copies the same rows from A's file into an
// empty plain database in the same run (ATTACH + INSERT … SELECT, with
// the same SQLite build as trigsync, modernc; the C sqlite3 shell is
// reported beside it). ratio = baseline seconds / trigsync seconds.
func BenchmarkTransport1M(b *testing.B) {
	b.StopTimer()
	n := benchRows(b)
	dir := b.TempDir()
	a, bdb := benchPair(b, dir)
	benchFill(b, a, n)

	// The baselines: the same rows into an empty plain table.
	plain := filepath.Join(dir, "plain.db")
	shell(b, plain, `PRAGMA journal_mode=WAL; `+benchDDL)
	db, err := sqlitedb.Open(context.Background(), plain)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if _, err := conn.ExecContext(context.Background(), `ATTACH ? AS src`, a); err != nil {
		b.Fatal(err)
	}
	res, err := conn.ExecContext(context.Background(), `INSERT INTO item SELECT * FROM src.item`)
	baseline := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	if got, _ := res.RowsAffected(); got != int64(n) {
		b.Fatalf("baseline copied %d rows of %d", got, n)
	}
	conn.Close()
	db.Close()
	plainShell := filepath.Join(dir, "plain-shell.db")
	shell(b, plainShell, `PRAGMA journal_mode=WAL; `+benchDDL)
	shellBaseline := benchRun(b, nil, need(b, "sqlite3"), plainShell,
		"ATTACH '"+a+"' AS src; INSERT INTO item SELECT * FROM src.item;").took

	srv := startBenchServe(b, bdb, nil)
	cpu0 := srv.cpu(b)
	b.StartTimer()
	p := benchSync(b, []string{"TRIGSYNC_LOG_LEVEL=debug"}, a, srv.url, n)
	b.StopTimer()
	took := p.took
	serveCPU := srv.cpu(b) - cpu0
	peak := srv.peakRSS(b)
	srv.stop(b)
	if got := shell(b, bdb, `SELECT count(*) FROM item`); got != fmt.Sprintf("%d\n", n) {
		b.Fatalf("b holds %s rows, want %d", strings.TrimSpace(got), n)
	}

	b.ReportMetric(took.Seconds(), "s")
	b.ReportMetric(float64(n)/took.Seconds(), "changes/s")
	b.ReportMetric(peak/(1<<20), "serve-peak-RSS-MB")
	b.ReportMetric(float64(p.state.SysUsage().(*syscall.Rusage).Maxrss)/1024, "sync-peak-RSS-MB")
	b.ReportMetric(serveCPU.Seconds(), "serve-cpu-s")
	b.ReportMetric((p.state.UserTime() + p.state.SystemTime()).Seconds(), "sync-cpu-s")
	b.ReportMetric(baseline.Seconds(), "baseline-s")
	b.ReportMetric(shellBaseline.Seconds(), "shell-baseline-s")
	b.ReportMetric(float64(baseline.Nanoseconds())/float64(n), "baseline-ns/op")
	b.ReportMetric(float64(took.Nanoseconds())/float64(n), "trigsync-ns/op")
	b.ReportMetric(baseline.Seconds()/took.Seconds(), "ratio")

	// The phases, from the requests the sync logged: its cursor request
	// begins the push (A integrates its log), the POST streams the log,
	// the first GET of B's changes begins the pull.
	lines := strings.Split(p.stderr, "\n")
	cursor := logTimes(lines, `msg="performing request"`, "/v1/cursor")
	post := logTimes(lines, `msg="performing request"`, "POST", "/v1/changes")
	pull := logTimes(lines, `msg="performing request"`, "GET", "/v1/changes?")
	if len(cursor) > 0 && len(post) > 0 && len(pull) > 0 {
		b.ReportMetric(post[0].Sub(cursor[0]).Seconds(), "prepare-s")
		b.ReportMetric(pull[0].Sub(post[0]).Seconds(), "push-s")
		b.ReportMetric(p.start.Add(took).Sub(pull[0]).Seconds(), "pull-s")
		b.ReportMetric(float64(len(pull)), "pull-requests")
	}
}

// percentile returns the p-th percentile (0–100) of sorted durations, by
// the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkTransportLag: A and B run serve with each other as --peer (the
// default intervals: the log polled every 100 ms, pulls every 5 s). A
// writer in this process commits one row on A every 10 ms for 10 s, each
// row carrying the wall-clock time (ns) its write began; a watcher polls B
// every 2 ms. The lag of a row is from the return of its commit on A to the
// first poll of B that sees it.
func BenchmarkTransportLag(b *testing.B) {
	b.StopTimer()
	const writes, interval, watchEvery = 1000, 10 * time.Millisecond, 2 * time.Millisecond
	ctx := context.Background()
	dir := b.TempDir()
	a, bdb := benchPair(b, dir)
	addrA, addrB := freeAddr(b), freeAddr(b)
	// Debug logs: each request a serve makes to its peer, with its time.
	debug := []string{"TRIGSYNC_LOG_LEVEL=debug"}
	srvA := startBenchServe(b, a, debug, "--listen", addrA, "--peer", "http://"+addrB)
	srvB := startBenchServe(b, bdb, debug, "--listen", addrB, "--peer", "http://"+addrA)

	w, err := sqlitedb.Open(ctx, a)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	r, err := sqlitedb.Open(ctx, bdb)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	r.SetMaxOpenConns(1)
	ins, err := w.Prepare(`INSERT INTO item VALUES (?, 'lag', ?, 0, NULL)`)
	if err != nil {
		b.Fatal(err)
	}
	defer ins.Close()

	// A first row, untimed: both loops are running and connected.
	if _, err := ins.Exec("warm-up", time.Now().UnixNano()); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := r.Get(&n, `SELECT count(*) FROM item WHERE id = 'warm-up'`); err != nil {
			b.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the warm-up row did not reach b in 30 s")
		}
	}

	id := func(i int) string { return fmt.Sprintf("lag%06d", i) }
	begun := make([]time.Time, writes)
	committed := make([]time.Time, writes)
	visible := make([]time.Time, writes)
	writerDone := make(chan error, 1)
	watcherDone, stopWatcher := make(chan struct{}), make(chan struct{})
	b.StartTimer()
	start := time.Now()
	go func() { // the watcher: rows become visible on b in log order
		defer close(watcherDone)
		next := 0 // rows before next are all seen
		deadline := start.Add(writes*interval + 30*time.Second)
		for next < writes && time.Now().Before(deadline) {
			select {
			case <-stopWatcher:
				return
			default:
			}
			var ids []string
			if err := r.Select(&ids, `SELECT id FROM item WHERE id >= ? AND id < 'lag999999' ORDER BY id`, id(next)); err != nil {
				b.Error(err)
				return
			}
			now := time.Now()
			for _, s := range ids {
				i, _ := strconv.Atoi(strings.TrimPrefix(s, "lag"))
				if visible[i].IsZero() {
					visible[i] = now
				}
			}
			for next < writes && !visible[next].IsZero() {
				next++
			}
			time.Sleep(watchEvery)
		}
	}()
	go func() { // the writer: one autocommit insert every 10 ms
		for i := range writes {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
			begun[i] = time.Now()
			if _, err := ins.Exec(id(i), begun[i].UnixNano()); err != nil {
				writerDone <- fmt.Errorf("write %d, %v after it began: %w", i, time.Since(begun[i]), err)
				return
			}
			committed[i] = time.Now()
		}
		writerDone <- nil
	}()
	if err := <-writerDone; err != nil {
		close(stopWatcher)
		<-watcherDone
		b.Fatal(err)
	}
	wrote := time.Since(start)
	<-watcherDone
	b.StopTimer()
	end := time.Now()

	var lags, writeTimes []time.Duration
	for i := range writes {
		if visible[i].IsZero() {
			b.Fatalf("row %d did not reach b within 30 s of the last write", i)
		}
		lags = append(lags, visible[i].Sub(committed[i]))
		writeTimes = append(writeTimes, committed[i].Sub(begun[i]))
	}
	slices.Sort(lags)
	slices.Sort(writeTimes)
	b.ReportMetric(ms(percentile(lags, 50)), "lag-p50-ms")
	b.ReportMetric(ms(percentile(lags, 90)), "lag-p90-ms")
	b.ReportMetric(ms(percentile(lags, 99)), "lag-p99-ms")
	b.ReportMetric(ms(lags[len(lags)-1]), "lag-max-ms")
	b.ReportMetric(ms(percentile(writeTimes, 99)), "write-p99-ms")
	b.ReportMetric(ms(writeTimes[len(writeTimes)-1]), "write-max-ms")
	b.ReportMetric(float64(writes)/wrote.Seconds(), "writes/s")

	// Where the lag goes, from the serves' logs (times in ms): a push of A
	// begins with its request for B's cursor and ends with "pushed". A
	// row waits from its commit to the first push that begins after it,
	// then travels with that push.
	within := func(ts []time.Time) []time.Time {
		return slices.DeleteFunc(ts, func(t time.Time) bool { return t.Before(start.Add(-time.Second)) || t.After(end) })
	}
	starts := within(srvA.logTimes(`msg="performing request"`, "/v1/cursor"))
	posts := within(srvA.logTimes(`msg="performing request"`, "POST", "/v1/changes"))
	ends := within(srvA.logTimes("msg=pushed"))
	var waits, pushes, preps []time.Duration
	for i := range writes {
		k, _ := slices.BinarySearchFunc(starts, committed[i], func(s, c time.Time) int {
			return s.Add(time.Millisecond).Compare(c) // s is truncated to the ms
		})
		if k < len(starts) {
			waits = append(waits, max(0, starts[k].Sub(committed[i])))
		}
	}
	for _, e := range ends {
		k, _ := slices.BinarySearchFunc(starts, e, func(s, e time.Time) int { return s.Compare(e.Add(time.Nanosecond)) })
		if k > 0 {
			pushes = append(pushes, e.Sub(starts[k-1]))
			// The part before the POST: stamping, integrating and reading
			// A's log, in a write transaction of A.
			if p, _ := slices.BinarySearchFunc(posts, e, func(p, e time.Time) int { return p.Compare(e.Add(time.Nanosecond)) }); p > 0 && !posts[p-1].Before(starts[k-1]) {
				preps = append(preps, posts[p-1].Sub(starts[k-1]))
			}
		}
	}
	slices.Sort(waits)
	slices.Sort(pushes)
	slices.Sort(preps)
	if len(waits) > 0 && len(pushes) > 0 {
		b.ReportMetric(ms(percentile(waits, 50)), "wait-p50-ms")
		b.ReportMetric(ms(percentile(waits, 99)), "wait-p99-ms")
		b.ReportMetric(ms(percentile(pushes, 50)), "push-p50-ms")
		b.ReportMetric(ms(percentile(pushes, 99)), "push-p99-ms")
		b.ReportMetric(ms(percentile(preps, 50)), "prep-p50-ms")
		b.ReportMetric(ms(percentile(preps, 99)), "prep-p99-ms")
		b.ReportMetric(float64(len(ends)), "pushes-a-to-b")
	}
	b.ReportMetric(float64(len(within(srvB.logTimes(`msg="performing request"`, "/v1/cursor")))), "pushes-b-to-a")
	b.ReportMetric(float64(len(within(srvA.logTimes(`msg="performing request"`, "GET", "/v1/changes")))), "pulls-a-from-b")
}

// BenchmarkTransportSmallSyncOnLargeDB times a sync of 100 changes on a
// database of TRIGSYNC_BENCH_ROWS rows (default 1,000,000) and on one of
// 1,000 rows. For each size, node A's rows reached B (which runs serve)
// through a first, untimed sync; then, in each of 5 rounds, one transaction
// on A updates 100 rows spread over the table and `trigsync sync A --peer
// URL_B` is timed, alternating between the sizes. The baseline: the same
// UPDATE on a plain table of the same rows, through a fresh connection
// (open, update, close), in the same rounds. Reported: the medians and
// large/small (1.00: the size of the database costs nothing).
func BenchmarkTransportSmallSyncOnLargeDB(b *testing.B) {
	b.StopTimer()
	const smallRows, updates, rounds = 1000, 100, 5
	type node struct {
		a, url, plain   string
		rows            int
		took, plainTook []time.Duration
	}
	setup := func(name string, rows int) *node {
		dir := filepath.Join(b.TempDir(), name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		a, bdb := benchPair(b, dir)
		benchFill(b, a, rows)
		plain := filepath.Join(dir, "plain.db")
		shell(b, plain, `PRAGMA journal_mode=WAL; `+benchDDL+` ATTACH '`+a+`' AS src; INSERT INTO item SELECT * FROM src.item;`)
		srv := startBenchServe(b, bdb, nil)
		benchSync(b, nil, a, srv.url, rows)
		return &node{a: a, url: srv.url, plain: plain, rows: rows}
	}
	plainUpdate := func(path, sql string) time.Duration {
		t0 := time.Now()
		db, err := sqlitedb.Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		res, err := db.Exec(sql)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != updates {
			b.Fatalf("plain update changed %d rows", n)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	small := setup("small", smallRows)
	large := setup("large", benchRows(b))
	for round := range rounds {
		for _, nd := range []*node{small, large} {
			var keys []string
			step := nd.rows / updates
			for k := range updates {
				keys = append(keys, "'"+benchID(k*step+round)+"'")
			}
			update := fmt.Sprintf(`UPDATE item SET qty = qty + 1, note = 'round %d' WHERE id IN (%s)`,
				round, strings.Join(keys, ","))
			shell(b, nd.a, update)
			b.StartTimer()
			p := benchSync(b, nil, nd.a, nd.url, updates)
			b.StopTimer()
			nd.took = append(nd.took, p.took)
			nd.plainTook = append(nd.plainTook, plainUpdate(nd.plain, update))
		}
	}
	median := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	medSmall, medLarge := median(small.took), median(large.took)
	plainSmall, plainLarge := median(small.plainTook), median(large.plainTook)
	b.ReportMetric(ms(medSmall), "small-ms")
	b.ReportMetric(ms(medLarge), "large-ms")
	b.ReportMetric(medLarge.Seconds()/medSmall.Seconds(), "large/small")
	b.ReportMetric(ms(plainSmall), "plain-small-ms")
	b.ReportMetric(ms(plainLarge), "plain-large-ms")
	b.ReportMetric(plainLarge.Seconds()/plainSmall.Seconds(), "plain-large/small")
	b.ReportMetric(float64(large.rows), "large-rows")
	b.Logf("syncs, small: %v; large: %v", small.took, large.took)
	b.Logf("plain updates, small: %v; large: %v", small.plainTook, large.plainTook)
}
