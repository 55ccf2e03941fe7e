package fleet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trigsync/trigsync/internal/testutil"
)

// binary builds the trigsync the hub runs.
func binary(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "trigsync")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/trigsync")
	cmd.Dir = testutil.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build trigsync: %v\n%s", err, b)
	}
	return out
}

// TestSmoke runs the generator at 200 devices, a few of them writing and
// the hub's own writer too, and prints its figures (no timing is
// asserted): every sync succeeds and the hub has every device's rows.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a hub and 200 devices")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Binary: binary(t), Dir: t.TempDir(), Devices: 200, Rounds: 3, Period: 4 * time.Second,
		Concurrency: 8, Changes: 3, Writers: 0.05, HubChanges: 5, Gone: 0.1, ProbeSyncs: 20, ProbeUp: 10, ProbeDown: 10})
	var out strings.Builder
	if len(rep.Rounds) > 0 {
		rep.Print(&out)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	syncs := 0
	for i, r := range rep.Rounds {
		syncs += r.Syncs
		if r.Errors > 0 {
			t.Errorf("round %d: %d errors, the first: %s", i, r.Errors, r.FirstErr)
		}
	}
	if want := 200 + 2*180; syncs != want {
		t.Errorf("%d syncs, want %d", syncs, want)
	}
	if rep.Lost != 0 || rep.Doubled != 0 {
		t.Errorf("the hub lacks %d device rows, holds %d changes twice", rep.Lost, rep.Doubled)
	}
	if p := rep.Probe; p.Errors > 0 || p.Up != 10*p.Syncs || p.Down < 10*p.Syncs {
		t.Errorf("probe: %d errors (%s), %d up and %d down in %d syncs", p.Errors, p.FirstErr, p.Up, p.Down, p.Syncs)
	}
}
