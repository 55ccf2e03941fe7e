package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/peers"
)

// DefaultRetention is how long acknowledged changes stay in the log.
const DefaultRetention = 7 * 24 * time.Hour

func retentionFlag() ucli.Flag {
	return &ucli.DurationFlag{Name: "retention", Value: DefaultRetention, EnvVars: env("retention"),
		Usage: "keep log rows and tombstones at least this long, and until every known peer acknowledged them"}
}

func gcCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "gc",
		Usage:     "prune the log and the tombstones every known peer acknowledged, once older than --retention",
		ArgsUsage: "DB",
		Description: "A peer that later asks for pruned history it lacks gets a \"re-clone needed\"\n" +
			"error, never a silent gap (docs/PROTOCOL.md, \"Pruned history\"). trigsync serve\n" +
			"runs this every --gc-interval.",
		Flags: []ucli.Flag{retentionFlag(),
			&ucli.StringSliceFlag{Name: "forget", Usage: "first forget the peer with node id `NODE` (gone for good), so that what it lacks no longer holds the log back (repeatable)", EnvVars: env("forget")},
		},
		Action: func(c *ucli.Context) error {
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			for _, node := range c.StringSlice("forget") {
				known, err := peers.Forget(c.Context, db, node)
				if err != nil {
					return err
				}
				if !known {
					return usageError("--forget: %s is not a known peer of %s (see trigsync status)", node, path)
				}
			}
			p, err := prune(c.Context, db, c.Duration("retention"))
			if err != nil {
				return fmt.Errorf("gc %s: %w", path, err)
			}
			_, err = fmt.Fprintf(c.App.Writer, "pruned %d log rows and %d tombstones; the log is pruned through seq %d\n",
				p.Rows, p.Tombstones, p.Through)
			return err
		},
	}
}

// prune runs applier.Prune in a transaction of its own.
func prune(ctx context.Context, db *sqlx.DB, retention time.Duration) (applier.Pruned, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return applier.Pruned{}, err
	}
	defer tx.Rollback()
	p, err := applier.Prune(ctx, tx, retention, time.Now())
	if err != nil {
		return p, err
	}
	return p, tx.Commit()
}

// pruneEvery prunes db every interval until ctx ends.
func pruneEvery(ctx context.Context, db *sqlx.DB, interval, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p, err := prune(ctx, db, retention); err != nil && ctx.Err() == nil {
			log.Warn("gc", "err", err)
		} else if p.Rows > 0 {
			log.Info("gc", "log_rows", p.Rows, "tombstones", p.Tombstones, "pruned_through", p.Through)
		}
	}
}
