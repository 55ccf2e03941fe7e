// Package fleet is trigsync's load generator for a hub serving many cron
// devices: a real `trigsync serve` process is the hub, and each simulated
// device is a real SQLite file, written by a real writer and synced with the
// hub through trigsync's own client (shipper.SyncRemote) over loopback, on a
// schedule of a period with or without jitter. It reports what a sync costs
// the hub (the hub process's own CPU accounting), sync latency, requests and
// bytes per sync, errors and the hub's memory (docs/BENCHMARKS.md, "Fleet").
package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/trigsync/trigsync/internal/sqlitedb"
)

// Config is one run of the generator.
type Config struct {
	Binary  string        // the trigsync binary the hub runs
	Dir     string        // where the hub's and the devices' files go
	Devices int           // how many devices
	Rounds  int           // how many times each device syncs
	Period  time.Duration // each device syncs once a period
	// Aligned starts every device at the top of the period (cron at :00);
	// otherwise each has its own random offset in the period.
	Aligned bool
	// Concurrency bounds the syncs in flight (the generator's own cores
	// are the hub's too); a sync due while all are busy waits.
	Concurrency int
	Changes     int     // rows a writing device adds before each sync
	Writers     float64 // the fraction of devices that write
	HubChanges  int     // rows the hub's own writer adds each period
	Gone        float64 // the fraction of devices that sync once and never come back
	// RestartAt, when not zero, kills the hub (SIGKILL) this far into the
	// run and starts it again on the same port.
	RestartAt time.Duration
	// TLS serves over HTTPS with a generated certificate; Resume keeps each
	// device's TLS session between its syncs.
	TLS, Resume bool
	// Credentials gives every device a credential of its own (trigsync
	// devices add); otherwise they share the hub's token.
	Credentials bool
	// After the schedule, device 0 syncs ProbeSyncs times more, one at a
	// time, each time with ProbeUp rows of its own and ProbeDown new rows
	// of the hub's to exchange: what one sync of that size costs a hub
	// that knows every device (Report.Probe).
	ProbeSyncs, ProbeUp, ProbeDown int
	HubArgs                        []string // more serve flags
	Seed                           uint64
	Log                            io.Writer // progress; nil: none
}

// Round is what the syncs that started in one period cost.
type Round struct {
	Syncs, Errors int
	HubCPU        time.Duration // the hub's CPU time in the period
	Latencies     []time.Duration
	Up, Down      int   // changes applied by the hub, by the devices
	Requests      int64 // of the probe syncs only (Report has the run's)
	Bytes         int64
	FirstErr      string
}

// Report is the outcome of a run.
type Report struct {
	Config  Config
	Rounds  []Round
	HubRSS  int64 // at the end, bytes
	HubPeak int64 // peak resident set, bytes
	// Requests, Bytes (both ways, on the wire) and Dials (connections)
	// of every sync of the run.
	Requests, Bytes, Dials int64
	Lost                   int   // device rows missing on the hub at the end
	Doubled                int   // changes the hub's log holds more than once
	Probe                  Round // the probe syncs
	// Scrape is how long one GET /metrics took at the end, and its size.
	Scrape      time.Duration
	ScrapeBytes int
}

// Run runs the generator and stops the hub.
func Run(ctx context.Context, cfg Config) (Report, error) {
	rep := Report{Config: cfg}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 8
	}
	if cfg.Period <= 0 || cfg.Rounds < 1 || cfg.Devices < 1 {
		return rep, errors.New("fleet: want devices ≥ 1, rounds ≥ 1 and a period")
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	tmpl := filepath.Join(cfg.Dir, "template.db")
	hubDB := filepath.Join(cfg.Dir, "hub.db")
	if err := template(ctx, tmpl); err != nil {
		return rep, err
	}
	if err := copyNode(ctx, tmpl, hubDB); err != nil {
		return rep, err
	}
	logf("creating %d device files", cfg.Devices)
	ds, err := makeDevices(ctx, cfg.Dir, tmpl, cfg.Devices, cfg.Resume)
	if err != nil {
		return rep, err
	}
	if cfg.Credentials {
		if err := credentials(ctx, hubDB, ds); err != nil {
			return rep, err
		}
	} else {
		for _, d := range ds {
			d.token = sharedToken
		}
	}
	h := &hub{binary: cfg.Binary, db: hubDB, listen: "127.0.0.1:0", args: cfg.HubArgs, env: []string{"TRIGSYNC_TOKEN=" + sharedToken}}
	var clientTLS *tls.Config
	scheme := "http"
	if cfg.TLS {
		serverArgs, c, err := certificates(cfg.Dir)
		if err != nil {
			return rep, err
		}
		h.args, clientTLS, scheme = append(h.args, serverArgs...), c, "https"
	}
	if err := h.start(ctx); err != nil {
		return rep, err
	}
	defer h.stop()
	url := scheme + "://" + h.addr
	logf("hub %s (pid %d)", url, h.cmd.Process.Pid)

	// The schedule: every device once a period, at its offset.
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	type run struct {
		at     time.Duration
		d      *device
		round  int
		writes int
	}
	var plan []run
	writers := int(float64(cfg.Devices) * cfg.Writers)
	stay := cfg.Devices - int(float64(cfg.Devices)*cfg.Gone)
	for i, d := range ds {
		offset := time.Duration(0)
		if !cfg.Aligned {
			offset = time.Duration(rng.Int64N(int64(cfg.Period)))
		}
		for r := range cfg.Rounds {
			if r > 0 && i >= stay {
				break
			}
			w := 0
			if i < writers {
				w = cfg.Changes
			}
			plan = append(plan, run{at: time.Duration(r)*cfg.Period + offset, d: d, round: r, writes: w})
		}
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at < plan[j].at })

	rounds := make([]Round, cfg.Rounds+1) // the last: syncs that started late
	var mu sync.Mutex
	var tr traffic
	start := time.Now()
	hubWriter := make(chan struct{})
	go func() { defer close(hubWriter); writeHub(ctx, hubDB, cfg, start) }()
	// Sample the hub's CPU at each period's end.
	cpuAt := make([]time.Duration, cfg.Rounds+2)
	sampled := make(chan struct{})
	sampleCtx, stopSampling := context.WithCancel(ctx)
	hubMu := sync.Mutex{}     // held while the hub restarts
	var cpuBase time.Duration // CPU of hub processes killed before
	hubCPU := func() time.Duration {
		hubMu.Lock()
		defer hubMu.Unlock()
		u, _ := procUsage(h.cmd.Process.Pid)
		return cpuBase + u.CPU
	}
	cpuAt[0] = hubCPU()
	go func() {
		defer close(sampled)
		for r := 1; r < len(cpuAt); r++ {
			select {
			case <-time.After(time.Until(start.Add(time.Duration(r) * cfg.Period))):
				cpuAt[r] = hubCPU()
			case <-sampleCtx.Done():
				return
			}
		}
	}()
	if cfg.RestartAt > 0 {
		go func() {
			select {
			case <-time.After(cfg.RestartAt):
			case <-sampleCtx.Done():
				return
			}
			hubMu.Lock()
			defer hubMu.Unlock()
			u, _ := procUsage(h.cmd.Process.Pid)
			h.kill()
			cpuBase += u.CPU
			logf("hub killed at %s; restarting", time.Since(start).Round(time.Millisecond))
			if err := h.start(ctx); err != nil {
				logf("restart the hub: %v", err)
			}
		}()
	}

	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for _, p := range plan {
		if wait := time.Until(start.Add(p.at)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		began := time.Now()
		idx := min(int(began.Sub(start)/cfg.Period), cfg.Rounds)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := syncOnce(ctx, p.d, url, p.writes, &tr, clientTLS)
			took := time.Since(began)
			mu.Lock()
			defer mu.Unlock()
			r := &rounds[idx]
			r.Syncs++
			r.Latencies = append(r.Latencies, took)
			r.Up += s.Sent.Applied
			r.Down += s.Received.Applied
			if err != nil {
				r.Errors++
				if r.FirstErr == "" {
					r.FirstErr = err.Error()
				}
			}
		}()
	}
	wg.Wait()
	stopSampling()
	<-sampled
	<-hubWriter
	end := hubCPU()
	if cfg.ProbeSyncs > 0 {
		if rep.Probe, err = probe(ctx, cfg, ds[0], ds[len(ds)-1], hubDB, url, clientTLS, hubCPU); err != nil {
			return rep, err
		}
	}
	for i := range rounds {
		from, to := cpuAt[min(i, len(cpuAt)-1)], cpuAt[min(i+1, len(cpuAt)-1)]
		if to == 0 || i+1 >= len(cpuAt) {
			to = end
		}
		rounds[i].HubCPU = max(to-from, 0)
	}
	rep.Requests, rep.Bytes, rep.Dials = tr.requests.Load(), tr.bytes.Load(), tr.dials.Load()
	if rounds[len(rounds)-1].Syncs == 0 {
		rounds = rounds[:len(rounds)-1]
	}
	rep.Rounds = rounds
	if u, err := procUsage(h.cmd.Process.Pid); err == nil {
		rep.HubRSS, rep.HubPeak = u.RSS, u.HWM
	}
	if rep.Scrape, rep.ScrapeBytes, err = scrape(ctx, url, clientTLS); err != nil {
		return rep, err
	}
	written := 0
	for _, d := range ds {
		written += d.written
	}
	if rep.Lost, rep.Doubled, err = missing(ctx, hubDB, written); err != nil {
		return rep, err
	}
	return rep, ctx.Err()
}

// probe syncs d cfg.ProbeSyncs times, one at a time, each with
// cfg.ProbeUp rows of its own and cfg.ProbeDown new rows of the hub's.
// Another device's sync (not measured) first integrates the hub's rows
// into its log, as in a fleet, where one batch of the hub's rows is
// integrated once and read by every device.
func probe(ctx context.Context, cfg Config, d, other *device, hubDB, url string, clientTLS *tls.Config, hubCPU func() time.Duration) (Round, error) {
	var r Round
	db, err := sqlitedb.Open(ctx, hubDB)
	if err != nil {
		return r, err
	}
	defer db.Close()
	var tr traffic
	var cpu time.Duration
	for i := range cfg.ProbeSyncs {
		for j := range cfg.ProbeDown {
			if _, err := db.ExecContext(ctx, `INSERT INTO settings(key, value, updated) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
				fmt.Sprintf("probe-%d", j), fmt.Sprint(i), time.Now().UnixMilli()); err != nil {
				return r, err
			}
		}
		if d != other && cfg.ProbeDown > 0 { // another device's sync integrates the hub's rows first
			if _, err := syncOnce(ctx, other, url, 0, &traffic{}, clientTLS); err != nil {
				return r, err
			}
		}
		before := hubCPU()
		began := time.Now()
		s, err := syncOnce(ctx, d, url, cfg.ProbeUp, &tr, clientTLS)
		r.Latencies = append(r.Latencies, time.Since(began))
		cpu += hubCPU() - before
		r.Syncs++
		r.Up += s.Sent.Applied
		r.Down += s.Received.Applied
		if err != nil {
			r.Errors++
			r.FirstErr = err.Error()
		}
	}
	r.HubCPU = cpu
	r.Requests, r.Bytes = tr.requests.Load(), tr.bytes.Load()
	return r, nil
}

// writeHub is the hub's own application: HubChanges rows a period,
// evenly spread, written beside serve.
func writeHub(ctx context.Context, path string, cfg Config, start time.Time) {
	if cfg.HubChanges == 0 {
		return
	}
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return
	}
	defer db.Close()
	n := cfg.HubChanges * cfg.Rounds
	every := cfg.Period / time.Duration(cfg.HubChanges)
	for i := range n {
		select {
		case <-time.After(time.Until(start.Add(time.Duration(i) * every))):
		case <-ctx.Done():
			return
		}
		db.ExecContext(ctx, `INSERT INTO settings(key, value, updated) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
			fmt.Sprintf("k%d", i%100), fmt.Sprint(i), time.Now().UnixMilli())
	}
}

// missing counts the device rows the hub lacks, and the changes its log
// holds more than once.
func missing(ctx context.Context, hubDB string, written int) (lost, doubled int, err error) {
	db, err := sqlitedb.Open(ctx, hubDB)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM readings`); err != nil {
		return 0, 0, err
	}
	err = db.GetContext(ctx, &doubled, `SELECT count(*) - count(DISTINCT origin || ':' || origin_seq)
		FROM _trigsync_changelog WHERE origin IS NOT NULL`)
	return written - n, doubled, err
}

// scrape times one GET /metrics of the hub.
func scrape(ctx context.Context, url string, clientTLS *tls.Config) (time.Duration, int, error) {
	tr := &http.Transport{TLSClientConfig: clientTLS}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+sharedToken)
	began := time.Now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("scrape the hub: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("scrape the hub: %s", resp.Status)
	}
	return time.Since(began), len(b), err
}

// Print writes the report as a table.
func (rep Report) Print(w io.Writer) {
	c := rep.Config
	fmt.Fprintf(w, "fleet: %d devices, %d rounds of %s (%s), %d in flight, %d changes × %.0f%% writers, hub %d/period, gone %.0f%%, tls %v resume %v\n",
		c.Devices, c.Rounds, c.Period, map[bool]string{true: "aligned", false: "jittered"}[c.Aligned], c.Concurrency,
		c.Changes, c.Writers*100, c.HubChanges, c.Gone*100, c.TLS, c.Resume)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tsyncs\terrors\thub CPU/sync\tp50\tp99\tmax\tup/sync\tdown/sync\t")
	var syncs int
	for i, r := range rep.Rounds {
		syncs += r.Syncs
		l := slices.Clone(r.Latencies)
		slices.Sort(l)
		q := func(p float64) time.Duration {
			if len(l) == 0 {
				return 0
			}
			return l[min(int(p*float64(len(l))), len(l)-1)].Round(10 * time.Microsecond)
		}
		per := func(n int) string {
			if r.Syncs == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f", float64(n)/float64(r.Syncs))
		}
		cpu := "-"
		if r.Syncs > 0 {
			cpu = fmt.Sprintf("%.2f ms", float64(r.HubCPU.Microseconds())/1e3/float64(r.Syncs))
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", i, r.Syncs, r.Errors, cpu, q(0.5), q(0.99), q(1), per(r.Up), per(r.Down))
	}
	tw.Flush()
	if syncs > 0 {
		fmt.Fprintf(w, "per sync: %.2f requests, %.0f bytes, %.2f connections; hub RSS %.1f MB (peak %.1f MB); device rows missing on the hub: %d, changes in its log twice: %d; a /metrics scrape: %s, %d bytes\n",
			float64(rep.Requests)/float64(syncs), float64(rep.Bytes)/float64(syncs), float64(rep.Dials)/float64(syncs),
			float64(rep.HubRSS)/(1<<20), float64(rep.HubPeak)/(1<<20), rep.Lost, rep.Doubled, rep.Scrape.Round(10*time.Microsecond), rep.ScrapeBytes)
	}
	if p := rep.Probe; p.Syncs > 0 {
		l := slices.Clone(p.Latencies)
		slices.Sort(l)
		fmt.Fprintf(w, "probe: %d syncs of %d up and %d down, one at a time: hub CPU %.2f ms/sync, p50 %s, max %s, %.2f requests and %.0f bytes per sync, %d errors (up %.1f, down %.1f per sync)\n",
			p.Syncs, c.ProbeUp, c.ProbeDown, float64(p.HubCPU.Microseconds())/1e3/float64(p.Syncs), l[len(l)/2].Round(10*time.Microsecond),
			l[len(l)-1].Round(10*time.Microsecond), float64(p.Requests)/float64(p.Syncs), float64(p.Bytes)/float64(p.Syncs), p.Errors,
			float64(p.Up)/float64(p.Syncs), float64(p.Down)/float64(p.Syncs))
	}
	for i, r := range rep.Rounds {
		if r.FirstErr != "" {
			fmt.Fprintf(w, "round %d, first error: %s\n", i, r.FirstErr)
		}
	}
}
