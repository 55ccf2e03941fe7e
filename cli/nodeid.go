package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/changelog"
)

func resetNodeIDCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "reset-node-id",
		Usage:     "give a copied database file a node id of its own",
		ArgsUsage: "DB",
		Description: "Two files with one node id corrupt each other's merges. Run this on a copy\n" +
			"made with cp, a backup or VACUUM INTO before it writes or syncs; the changes\n" +
			"the file already holds stay attributed to the old id.",
		Action: func(c *ucli.Context) error {
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			tx, err := db.BeginTxx(c.Context, nil)
			if err != nil {
				return fmt.Errorf("reset node id of %s: %w", path, err)
			}
			defer tx.Rollback()
			old, fresh, err := changelog.ResetNodeID(c.Context, tx)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("reset node id of %s: %w", path, err)
			}
			var mode string
			if err := db.GetContext(c.Context, &mode, `PRAGMA journal_mode`); err == nil && mode != "wal" {
				if log, err := logger(c); err == nil {
					log.Warn("the copy is not in WAL mode (VACUUM INTO and the backup API make rollback-journal files); "+
						"beside serve, readers and writers wait less in WAL mode: sqlite3 "+path+" 'PRAGMA journal_mode=WAL'",
						"database", path, "journal_mode", mode)
				}
			}
			_, err = fmt.Fprintf(c.App.Writer, "node id of %s: %s (was %s)\n", path, fresh, old)
			return err
		},
	}
}
