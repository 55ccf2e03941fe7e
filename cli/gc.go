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

// DefaultDeviceExpiry is how long a peer that dials in may stay away
// before it no longer holds back log GC.
const DefaultDeviceExpiry = 30 * 24 * time.Hour

func deviceExpiryFlag() ucli.Flag {
	return &ucli.DurationFlag{Name: "device-expiry", Value: DefaultDeviceExpiry, EnvVars: env("device-expiry"),
		Usage: "a peer that dials in (no URL here) and was not seen for this long no longer holds back log GC; it rebuilds when it returns; 0: never"}
}

func gcCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "gc",
		Usage:     "prune the log and the tombstones every known peer acknowledged, once older than --retention",
		ArgsUsage: "DB",
		Description: "A peer that later asks for pruned history it lacks gets a \"re-clone needed\"\n" +
			"error, never a silent gap (docs/PROTOCOL.md, \"Pruned history\"). trigsync serve\n" +
			"runs this every --gc-interval.",
		Flags: []ucli.Flag{retentionFlag(), deviceExpiryFlag(),
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
			log, err := logger(c)
			if err != nil {
				return err
			}
			p, err := prune(c.Context, db, c.Duration("retention"), c.Duration("device-expiry"), log)
			if err != nil {
				return fmt.Errorf("gc %s: %w", path, err)
			}
			_, err = fmt.Fprintf(c.App.Writer, "pruned %d log rows and %d tombstones; the log is pruned through seq %d; %d expired peers left out\n",
				p.Rows, p.Tombstones, p.Through, p.Expired)
			return err
		},
	}
}

// prune runs applier.Prune in a transaction of its own, and logs how many
// peers it left out of the horizon as expired.
func prune(ctx context.Context, db *sqlx.DB, retention, expiry time.Duration, log *slog.Logger) (applier.Pruned, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return applier.Pruned{}, err
	}
	defer tx.Rollback()
	p, err := applier.Prune(ctx, tx, retention, expiry, time.Now())
	if err != nil {
		return p, err
	}
	if err := tx.Commit(); err != nil {
		return p, err
	}
	log.Info("gc", "log_rows", p.Rows, "tombstones", p.Tombstones, "pruned_through", p.Through,
		"expired_peers", p.Expired, "device_expiry", expiry.String())
	return p, nil
}

// pruneEvery prunes db every interval until ctx ends.
func pruneEvery(ctx context.Context, db *sqlx.DB, interval, retention, expiry time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := prune(ctx, db, retention, expiry, log); err != nil && ctx.Err() == nil {
			log.Warn("gc", "err", err)
		}
	}
}
