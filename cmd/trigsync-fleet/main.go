// Command trigsync-fleet runs the fleet load generator (package fleet): a
// trigsync serve hub and many simulated cron devices on loopback, and
// prints what the syncs cost the hub. make bench-fleet runs it at 10,000
// devices.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/trigsync/trigsync/fleet"
)

func main() {
	var cfg fleet.Config
	var keep bool
	var hubArgs string
	flag.StringVar(&cfg.Binary, "binary", "bin/trigsync", "the trigsync `binary` the hub runs")
	flag.StringVar(&cfg.Dir, "dir", "", "put the databases in `DIR` (default: a temporary directory, removed after)")
	flag.BoolVar(&keep, "keep", false, "keep the temporary directory")
	flag.IntVar(&cfg.Devices, "devices", 1000, "how many devices")
	flag.IntVar(&cfg.Rounds, "rounds", 3, "how many times each device syncs")
	flag.DurationVar(&cfg.Period, "period", 60e9, "each device syncs once a period")
	flag.BoolVar(&cfg.Aligned, "aligned", false, "every device at the top of the period (cron at :00) instead of jittered")
	flag.IntVar(&cfg.Concurrency, "concurrency", 16, "syncs in flight at most")
	flag.IntVar(&cfg.Changes, "changes", 0, "rows a writing device adds before each sync")
	flag.Float64Var(&cfg.Writers, "writers", 0, "the fraction of devices that write")
	flag.IntVar(&cfg.HubChanges, "hub-changes", 0, "rows the hub's own writer adds each period")
	flag.Float64Var(&cfg.Gone, "gone", 0, "the fraction of devices that sync once and never come back")
	flag.DurationVar(&cfg.RestartAt, "restart-at", 0, "kill the hub (SIGKILL) this far into the run and restart it")
	flag.BoolVar(&cfg.TLS, "tls", false, "serve over HTTPS")
	flag.BoolVar(&cfg.Credentials, "credentials", false, "give every device a credential of its own (trigsync devices add) instead of the shared token")
	flag.BoolVar(&cfg.Resume, "resume", false, "with --tls: devices keep their TLS session between syncs")
	flag.IntVar(&cfg.ProbeSyncs, "probe", 0, "then sync one device this many times more, one at a time (see -probe-up, -probe-down)")
	flag.IntVar(&cfg.ProbeUp, "probe-up", 10, "rows the probe device writes before each of its syncs")
	flag.IntVar(&cfg.ProbeDown, "probe-down", 10, "rows the hub writes before each probe sync")
	flag.StringVar(&hubArgs, "hub-args", "", "more serve flags, space-separated")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of the schedule")
	flag.Parse()
	cfg.HubArgs = strings.Fields(hubArgs)
	cfg.Log = os.Stderr
	if err := run(cfg, keep); err != nil {
		fmt.Fprintln(os.Stderr, "trigsync-fleet:", err)
		os.Exit(1)
	}
}

func run(cfg fleet.Config, keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "trigsync-fleet-")
		if err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(dir)
		}
		cfg.Dir = dir
	}
	rep, err := fleet.Run(ctx, cfg)
	if len(rep.Rounds) > 0 {
		rep.Print(os.Stdout)
	}
	return err
}
