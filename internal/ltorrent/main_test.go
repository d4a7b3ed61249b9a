package ltorrent

import (
	"os"
	"testing"

	"github.com/clustervision/luna-go/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.WithDB(m).Run()) }
