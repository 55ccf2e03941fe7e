package cli

import (
	"fmt"
	"strings"

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
		Description: "--peer names another database file (a copy on a USB stick, a laptop's copy):\n" +
			"both files end up with each other's changes, merged by per-column\n" +
			"last-write-wins (docs/MERGE.md). Prints one line: sent, received, conflicts.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "peer", Usage: "the peer's database `FILE`", Required: true, EnvVars: env("peer")},
			&ucli.DurationFlag{Name: "max-clock-skew", Value: applier.DefaultMaxClockSkew,
				Usage: "hold changes stamped further than this ahead of the local clock", EnvVars: env("max-clock-skew")},
			foreignKeysFlag(),
		},
		Action: func(c *ucli.Context) error {
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			peerPath := c.String("peer")
			if strings.Contains(peerPath, "://") {
				return usageError("--peer %s: only database files are supported so far", peerPath)
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
			s, err := shipper.Sync(c.Context, db, peer, applier.Options{MaxClockSkew: c.Duration("max-clock-skew"), ForeignKeys: c.Bool("foreign-keys")})
			if err != nil {
				return fmt.Errorf("sync %s with %s: %w", path, peerPath, err)
			}
			_, err = fmt.Fprintf(c.App.Writer, "sent %d, received %d, conflicts %d, held %d\n",
				s.Sent.Applied, s.Received.Applied, s.Sent.Conflicts+s.Received.Conflicts, s.Sent.Held+s.Received.Held)
			return err
		},
	}
}
