package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
)

func conflictsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "conflicts",
		Usage:     "list changes set aside by the applier: failed constraints, held changes, notices",
		ArgsUsage: "DB",
		Description: "--retry merges failed changes again (after you fixed what made them fail),\n" +
			"--release applies held changes although their stamps are ahead of the local\n" +
			"clock, --discard drops conflicts and keeps their record. Each acts on --id\n" +
			"(repeatable) or on every open conflict.",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "json", Usage: "one JSON object per line", EnvVars: env("json")},
			&ucli.BoolFlag{Name: "retry", Usage: "merge failed changes again"},
			&ucli.BoolFlag{Name: "release", Usage: "apply held changes whatever their stamps"},
			&ucli.BoolFlag{Name: "discard", Usage: "drop conflicts, keeping the record"},
			&ucli.Int64SliceFlag{Name: "id", Usage: "act on this conflict `ID` only"},
			foreignKeysFlag(),
		},
		Action: func(c *ucli.Context) error {
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			actions := map[string]applier.Action{"retry": applier.Retry, "release": applier.Release, "discard": applier.Discard}
			var chosen []string
			for name := range actions {
				if c.Bool(name) {
					chosen = append(chosen, name)
				}
			}
			if len(chosen) > 1 {
				return usageError("choose one of --retry, --release and --discard")
			}
			if len(chosen) == 1 {
				n, err := applier.Resolve(c.Context, db, actions[chosen[0]], c.Int64Slice("id"), applier.Options{ForeignKeys: c.Bool("foreign-keys")})
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				_, err = fmt.Fprintf(c.App.Writer, "%d conflicts resolved\n", n)
				return err
			}
			list, err := applier.Conflicts(c.Context, db)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				for _, x := range list {
					if err := enc.Encode(x); err != nil {
						return err
					}
				}
				return nil
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "ID\tKIND\tAT\tTABLE\tWHY\n")
			for _, x := range list {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", x.ID, x.Kind, x.At, x.Table, x.Error)
			}
			return w.Flush()
		},
	}
}
