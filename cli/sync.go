package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/jmoiron/sqlx"
	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
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
			"the URL of a node running trigsync serve. Both end up with each other's\n" +
			"changes, merged by per-column last-write-wins (docs/MERGE.md). Prints one\n" +
			"line: sent, received, conflicts, held (and dropped, when a migration dropped cells\n" +
			"of older changes). Exits 0 only when both directions completed.\n\n" +
			"A node away past a serve peer's log horizon (the peer pruned changes it\n" +
			"lacks) pushes its own changes first, then rebuilds from the peer's snapshot,\n" +
			"keeping the old file as DB.pre-rebuild-TIME; --no-rebuild exits 3 instead.",
		Flags: append(append(append([]ucli.Flag{
			&ucli.StringFlag{Name: "peer", Usage: "the peer: a database `FILE` or an http(s):// URL", Required: true, EnvVars: env("peer")},
			&ucli.DurationFlag{Name: "max-clock-skew", Value: applier.DefaultMaxClockSkew,
				Usage: "hold changes stamped further than this ahead of the local clock", EnvVars: env("max-clock-skew")},
			foreignKeysFlag(),
			&ucli.BoolFlag{Name: "no-rebuild", EnvVars: env("no-rebuild"),
				Usage: "when the peer pruned history this node lacks, exit 3 (re-clone needed) rather than rebuild from its snapshot"},
		}, tokenFlags()...), tlsClientFlags()...), lockFlag()),
		Action: func(c *ucli.Context) error {
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
			log, err := logger(c)
			if err != nil {
				return err
			}
			peerPath := c.String("peer")
			opts := applier.Options{MaxClockSkew: c.Duration("max-clock-skew"), ForeignKeys: c.Bool("foreign-keys"), Logger: log}
			if strings.Contains(peerPath, "://") {
				return syncRemote(c, db, path, peerPath, opts)
			}
			peer, err := sqlitedb.Open(c.Context, peerPath)
			if err != nil {
				return err
			}
			defer peer.Close()
			if err := requireInstalled(c, peer, peerPath); err != nil {
				return err
			}
			if err := upgrade(c, peer, peerPath); err != nil {
				return err
			}
			s, err := shipper.Sync(c.Context, db, peer, opts)
			if err != nil {
				return fmt.Errorf("sync %s with %s: %w", path, peerPath, err)
			}
			return printSummary(c.App.Writer, s)
		},
	}
}

// syncRemote pushes to and pulls from a node running trigsync serve.
func syncRemote(c *ucli.Context, db *sqlx.DB, path, peerURL string, opts applier.Options) error {
	peer, err := remote(c, peerURL)
	if err != nil {
		return err
	}
	var s shipper.Summary
	if c.Bool("no-rebuild") {
		s, err = shipper.SyncRemote(c.Context, db, peer, opts)
	} else {
		s, err = shipper.SyncRemoteRebuild(c.Context, db, path, peer, opts)
	}
	if err != nil {
		return fmt.Errorf("sync %s with %s: %w", path, peerURL, err)
	}
	return printSummary(c.App.Writer, s)
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
