package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/shipper"
)

// foreignKeysFlag: the applier enforces FOREIGN KEY constraints, as the
// application does with PRAGMA foreign_keys=ON.
func foreignKeysFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: "foreign-keys", EnvVars: env("foreign-keys"),
		Usage: "enforce FOREIGN KEY constraints when applying (set it when the application uses PRAGMA foreign_keys=ON)"}
}

func syncCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "sync",
		Usage:     "exchange changes with a peer both ways, then exit",
		ArgsUsage: "DB",
		Description: "--peer is another database file (a copy on a USB stick, a laptop's copy) or\n" +
			"the URL of a node running trigsync serve; repeated, URLs are tried in order\n" +
			"until one completes. Both end up with each other's\n" +
			"changes, merged by per-column last-write-wins (docs/MERGE.md). Prints one\n" +
			"line: sent, received, conflicts, held (and dropped, when a migration dropped cells\n" +
			"of older changes). Exits 0 only when both directions completed.\n\n" +
			"A node away past a serve peer's log horizon (the peer pruned changes it\n" +
			"lacks) pushes its own changes first, then rebuilds from the peer's snapshot,\n" +
			"keeping the old file as DB.pre-rebuild-TIME; --no-rebuild exits 3 instead.\n" +
			"From cron: * * * * * trigsync sync --jitter 50s --timeout 1m --peer https://hub1 --peer https://hub2 DB",
		Flags: append(append(append([]ucli.Flag{
			&ucli.StringSliceFlag{Name: "peer", Required: true, EnvVars: env("peer"),
				Usage: "the peer: a database `FILE`, or an http(s):// URL; repeat the URL flag for hubs to fail over to, in order"},
			&ucli.DurationFlag{Name: "max-clock-skew", Value: applier.DefaultMaxClockSkew,
				Usage: "hold changes stamped further than this ahead of the local clock", EnvVars: env("max-clock-skew")},
			&ucli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, EnvVars: env("timeout"),
				Usage: "give up the sync after this long, retries included (what committed stays); 0: never"},
			&ucli.DurationFlag{Name: "jitter", EnvVars: env("jitter"),
				Usage: "first wait an offset in [0, `DURATION`) that the node id decides, so that a fleet's cron runs spread out"},
			foreignKeysFlag(),
			&ucli.BoolFlag{Name: "no-rebuild", EnvVars: env("no-rebuild"),
				Usage: "when the peer pruned history this node lacks, exit 3 (re-clone needed) rather than rebuild from its snapshot"},
		}, tokenFlags()...), tlsClientFlags()...), lockFlag()),
		Action: func(c *ucli.Context) error {
			urls, file, err := peerList(c.StringSlice("peer"))
			if err != nil {
				return err
			}
			log, err := logger(c)
			if err != nil {
				return err
			}
			if err := jitterWait(c, log); err != nil {
				return err
			}
			if d := c.Duration("timeout"); d > 0 {
				ctx, cancel := context.WithTimeout(c.Context, d)
				defer cancel()
				c.Context = ctx
			}
			if c.NArg() == 1 { // otherwise installedArg says what is wrong
				unlock, err := lockSync(c.Context, c.Args().First(), c.Duration("wait"))
				if err != nil {
					return err
				}
				defer unlock()
			}
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			opts := applier.Options{MaxClockSkew: c.Duration("max-clock-skew"), ForeignKeys: c.Bool("foreign-keys"), Logger: log}
			if file == "" {
				return syncRemote(c, db, path, urls, opts, log)
			}
			peer, err := sqlitedb.Open(c.Context, file)
			if err != nil {
				return err
			}
			defer peer.Close()
			if err := requireInstalled(c, peer, file); err != nil {
				return err
			}
			if err := upgrade(c, peer, file); err != nil {
				return err
			}
			s, err := shipper.Sync(c.Context, db, peer, opts)
			if err != nil {
				return timedOut(c, fmt.Errorf("sync %s with %s: %w", path, file, err))
			}
			return printSummary(c.App.Writer, s)
		},
	}
}

// peerList reads sync's --peer values: the URLs of nodes running serve,
// to try in order, or one database file.
func peerList(values []string) (urls []string, file string, err error) {
	for _, v := range values {
		switch {
		case strings.Contains(v, "://"):
			urls = append(urls, v)
		case file != "":
			return nil, "", usageError("--peer: one database file at a time, got %s and %s", file, v)
		default:
			file = v
		}
	}
	if file != "" && len(urls) > 0 {
		return nil, "", usageError("--peer: give the URLs of nodes running serve, or one database file, not both (got %s and %s)", urls[0], file)
	}
	return urls, file, nil
}

// jitterWait waits, before a sync, the offset --jitter and the node id
// decide (shipper.Offset), or until the sync is interrupted.
func jitterWait(c *ucli.Context, log *slog.Logger) error {
	within := c.Duration("jitter")
	if within <= 0 {
		return nil
	}
	db, _, err := installedArg(c, false)
	if err != nil {
		return err
	}
	id, err := changelog.NodeID(c.Context, db)
	db.Close()
	if err != nil {
		return err
	}
	wait := shipper.Offset(id, within)
	log.Debug("waiting before the sync (--jitter)", "wait", wait, "node", id)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.Context.Done():
		return fmt.Errorf("sync: interrupted during the --jitter wait: %w", c.Context.Err())
	case <-t.C:
		return nil
	}
}

// syncRemote pushes to and pulls from a node running trigsync serve: the
// first of urls that completes.
func syncRemote(c *ucli.Context, db *sqlx.DB, path string, urls []string, opts applier.Options, log *slog.Logger) error {
	peers := make([]*shipper.Remote, len(urls))
	for i, u := range urls {
		var err error
		if peers[i], err = remote(c, u); err != nil {
			return err
		}
	}
	rebuild := path
	if c.Bool("no-rebuild") {
		rebuild = ""
	}
	s, err := shipper.SyncFirst(c.Context, db, rebuild, peers, opts, log)
	if err != nil && len(urls) == 1 {
		return timedOut(c, fmt.Errorf("sync %s with %s: %w", path, urls[0], err))
	}
	if err != nil {
		return timedOut(c, fmt.Errorf("sync %s: %w", path, err))
	}
	return printSummary(c.App.Writer, s)
}

// timedOut adds to err, when the sync's --timeout ended it, that it did.
func timedOut(c *ucli.Context, err error) error {
	if errors.Is(c.Context.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (the sync ran out of --timeout %s)", err, c.Duration("timeout"))
	}
	return err
}

// printSummary writes the one line sync prints: what the peer applied,
// what this node applied, and what either set aside; then, when a
// migration dropped some, the changes made on an older schema that lost
// cells or were dropped; then what a rebuild did, when there was one.
func printSummary(w io.Writer, s shipper.Summary) error {
	dropped := ""
	if n := s.Sent.Dropped + s.Received.Dropped; n > 0 {
		dropped = fmt.Sprintf(", dropped %d", n)
	}
	rebuilt := ""
	if s.Rebuilt != nil {
		rebuilt = "; " + s.Rebuilt.String()
	}
	_, err := fmt.Fprintf(w, "sent %d, received %d, conflicts %d, held %d%s%s\n",
		s.Sent.Applied, s.Received.Applied, s.Sent.Conflicts+s.Received.Conflicts, s.Sent.Held+s.Received.Held, dropped, rebuilt)
	return err
}
