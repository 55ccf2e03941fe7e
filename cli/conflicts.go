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
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "json", Usage: "one JSON object per line", EnvVars: env("json")},
		},
		Action: func(c *ucli.Context) error {
			db, path, err := dbArg(c)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := requireInstalled(c, db, path); err != nil {
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
