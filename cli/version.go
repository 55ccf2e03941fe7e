package cli

import (
	"fmt"
	"runtime"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/migrations"
)

func versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print the version and the formats this build reads and writes",
		Action: func(c *ucli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "trigsync %s (format %d, metadata version %d, %s %s/%s)\n",
				c.App.Version, changelog.Format, migrations.Latest, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
