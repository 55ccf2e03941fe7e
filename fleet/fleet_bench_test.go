package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/trigsync/trigsync/internal/sqlitedb"
)

// BenchmarkFleet runs the generator with 1,000 devices
// (TRIGSYNC_FLEET_DEVICES) syncing twice in a 20 s period, jittered, then
// probes one device's idle syncs and its syncs of 10 changes up and 10
// down. It reports, per sync, the hub's CPU (ms), requests, bytes and the
// p99 latency of the scheduled syncs; and, as trigsync-ns/op against
// plain-ns/op (ratio: plain over trigsync, scripts/bench-ratios), the
// hub's CPU for a 10+10 sync against the CPU of one plain SQLite
// transaction that writes 10 rows and reads 10, measured in the same run.
func BenchmarkFleet(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("TRIGSYNC_FLEET_DEVICES")); err == nil && v > 0 {
		n = v
	}
	bin := binary(b)
	plain := plainTransaction(b)
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		base := Config{Binary: bin, Devices: n, Rounds: 2, Period: 20 * time.Second, Concurrency: 16, ProbeSyncs: 300}
		idle := base
		idle.Dir = b.TempDir()
		rep, err := Run(ctx, idle)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		busy := base
		busy.Dir, busy.Rounds, busy.ProbeUp, busy.ProbeDown = b.TempDir(), 1, 10, 10
		rep10, err := Run(ctx, busy)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		syncs, errs := 0, 0
		for _, r := range rep.Rounds {
			lat = append(lat, r.Latencies...)
			syncs += r.Syncs
			errs += r.Errors
		}
		slices.Sort(lat)
		perSync := func(r Round) float64 { return float64(r.HubCPU.Microseconds()) / 1e3 / float64(r.Syncs) }
		var later Round // the syncs after each device's first
		for _, r := range rep.Rounds[1:] {
			later.Syncs += r.Syncs
			later.HubCPU += r.HubCPU
		}
		b.ReportMetric(perSync(later), "hub-ms/sync-scheduled")
		b.ReportMetric(perSync(rep.Probe), "hub-ms/sync-idle")
		b.ReportMetric(perSync(rep10.Probe), "hub-ms/sync-10+10")
		hub10 := float64(rep10.Probe.HubCPU) / float64(rep10.Probe.Syncs)
		b.ReportMetric(float64(plain), "plain-ns/op")
		b.ReportMetric(hub10, "trigsync-ns/op")
		b.ReportMetric(float64(plain)/hub10, "ratio")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1e3, "p99-ms")
		b.ReportMetric(float64(rep.Requests)/float64(syncs), "requests/sync")
		b.ReportMetric(float64(rep.Bytes)/float64(syncs), "bytes/sync")
		b.ReportMetric(float64(rep.Probe.Requests)/float64(rep.Probe.Syncs), "requests/idle-sync")
		b.ReportMetric(float64(rep10.Probe.Bytes)/float64(rep10.Probe.Syncs), "bytes/10+10-sync")
		b.ReportMetric(float64(rep.HubPeak)/(1<<20), "hub-peak-MB")
		b.ReportMetric(float64(errs+rep.Lost+rep.Doubled), "errors+lost+doubled")
		b.ReportMetric(float64(rep.Scrape.Microseconds())/1e3, "scrape-ms")
	}
}

// plainTransaction is the CPU time of one plain SQLite transaction (no
// trigsync) that writes 10 rows and reads 10.
func plainTransaction(b *testing.B) time.Duration {
	ctx := context.Background()
	db, err := sqlitedb.Create(ctx, filepath.Join(b.TempDir(), "plain.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MustExec(`PRAGMA journal_mode = WAL; ` + Schema)
	const n = 500
	before := cpu()
	for i := range n {
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for j := range 10 {
			tx.MustExec(`INSERT INTO readings(id, device, sensor, value, at) VALUES (?, 'plain', 't', ?, ?)`, fmt.Sprintf("%d-%d", i, j), j, i)
		}
		var got []float64
		if err := tx.Select(&got, `SELECT value FROM readings ORDER BY id DESC LIMIT 10`); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return (cpu() - before) / n
}

// cpu is this process's CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
