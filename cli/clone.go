package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	ucli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/shipper"
)

func cloneCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "clone",
		Usage:     "make a new node from a peer's consistent snapshot, then catch up with it",
		ArgsUsage: "URL DB",
		Description: "The peer runs trigsync serve; writers there go on while it takes the snapshot\n" +
			"(VACUUM INTO). The copy gets a node id of its own and then syncs with the peer\n" +
			"for what was written meanwhile. DB must not exist. A progress bar shows on a terminal.",
		Flags: append(append(tokenFlags(), tlsClientFlags()...), foreignKeysFlag()),
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usageError("clone takes two arguments, the peer's URL and the new database file; got %d", c.NArg())
			}
			url, path := c.Args().Get(0), c.Args().Get(1)
			peer, err := remote(c, url)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			var progress func(int64) io.Writer
			if f, ok := c.App.ErrWriter.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				progress = func(size int64) io.Writer {
					bar = progressbar.DefaultBytes(size, "snapshot")
					return bar
				}
			}
			res, err := shipper.Clone(c.Context, peer, path, progress, applier.Options{ForeignKeys: c.Bool("foreign-keys")})
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return fmt.Errorf("clone %s into %s: %w", url, path, err)
			}
			_, err = fmt.Fprintf(c.App.Writer, "cloned %s into %s (%d bytes, the peer's log through seq %d); node id %s; caught up: received %d\n",
				url, path, res.Bytes, res.Through, res.NodeID, res.CaughtUp.Received.Applied)
			return err
		},
	}
}
