package cli

import (
	"database/sql"
	"encoding/json"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/changelog"
)

func changesCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "changes",
		Usage: "print the changelog, decoded",
		Description: "Rows the triggers wrote since the last stamping get their HLC stamps and\n" +
			"epoch first (docs/FORMAT.md), so this command writes to the log.",
		ArgsUsage: "DB",
		Flags: []ucli.Flag{
			&ucli.Int64Flag{Name: "since", Usage: "print changes after this `SEQ`", EnvVars: env("since")},
			&ucli.IntFlag{Name: "limit", Value: 1000, Usage: "print at most `N` changes", EnvVars: env("limit")},
			&ucli.BoolFlag{Name: "json", Usage: "one JSON object per line (docs/FORMAT.md, values in JSON)", EnvVars: env("json")},
		},
		Action: func(c *ucli.Context) error {
			if c.Int("limit") < 1 {
				return usageError("--limit must be at least 1")
			}
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			tx, err := db.BeginTxx(c.Context, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			defer tx.Rollback()
			if _, err := changelog.Stamp(c.Context, tx); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			// Printing may wait for a slow reader of stdout: in a read
			// transaction, which keeps no writer waiting.
			if tx, err = db.BeginTxx(c.Context, &sql.TxOptions{ReadOnly: true}); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			defer tx.Rollback()
			r, err := changelog.NewReader(c.Context, tx)
			if err != nil {
				return err
			}
			// Page by page: a read stops at changelog.ReadBytes, and memory
			// stays bounded by a page.
			enc := json.NewEncoder(c.App.Writer)
			for after, left := c.Int64("since"), c.Int("limit"); left > 0; {
				changes, err := r.Read(c.Context, tx, after, left)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if len(changes) == 0 {
					break
				}
				for _, ch := range changes {
					if c.Bool("json") {
						err = enc.Encode(ch)
					} else if ch.Migration != nil {
						_, err = fmt.Fprintf(c.App.Writer, "%d\t%s\t%s\tschema version %d\t%q\n", ch.Seq, ch.HLC, ch.Op, ch.Migration.Version, ch.Migration.SQL)
					} else {
						key, _ := ch.Key.MarshalJSON()
						set, _ := ch.Set.MarshalJSON()
						_, err = fmt.Fprintf(c.App.Writer, "%d\t%s\t%s\t%s\t%s\t%s\n", ch.Seq, ch.HLC, ch.Op, ch.Table, key, set)
					}
					if err != nil {
						return err
					}
				}
				after, left = changes[len(changes)-1].Seq, left-len(changes)
			}
			return nil
		},
	}
}
