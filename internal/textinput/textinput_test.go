package textinput

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadNonInteractive(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\nb\n\n", "a\nb"},
		{"a\r\nb\r\n\r\n", "a\r\nb"},
		{"a\n\nb", "a\n\nb"},
		{"\n\n", ""},
		{"", ""},
		{"x\r\n\n\r\n", "x"},
		{"x\r", "x\r"},
	}
	for _, tt := range tests {
		got, err := Read(context.Background(), strings.NewReader(tt.in), false, "old", "false")
		if err != nil {
			t.Fatalf("Read(%q) error: %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("Read(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken") }

func TestReadNonInteractiveError(t *testing.T) {
	if _, err := Read(context.Background(), errReader{}, false, "", ""); err == nil {
		t.Fatal("Read from a failing reader returned nil error")
	}
}

// writeScript writes an executable shell script and returns its path.
func writeScript(t *testing.T, dir, body string) string {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Fatal("the editor tests need /bin/sh (apt-get install dash)")
	}
	path := filepath.Join(dir, "editor.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadInteractive(t *testing.T) {
	dir := t.TempDir()
	seen := filepath.Join(dir, "seen")
	nameFile := filepath.Join(dir, "name")
	script := writeScript(t, dir, ""+
		"cp \"$1\" '"+seen+"'\n"+
		"printf '%s' \"$1\" > '"+nameFile+"'\n"+
		"printf 'new\\n' >> \"$1\"\n")

	for _, editor := range []string{script, "/bin/sh " + script} {
		t.Run(editor, func(t *testing.T) {
			got, err := Read(context.Background(), strings.NewReader("ignored"), true, "old text", editor)
			if err != nil {
				t.Fatalf("Read error: %v", err)
			}
			if want := "old text\nnew"; got != want {
				t.Errorf("Read = %q, want %q", got, want)
			}
			offered, err := os.ReadFile(seen)
			if err != nil {
				t.Fatal(err)
			}
			if want := "old text\n"; string(offered) != want {
				t.Errorf("editor was offered %q, want %q", offered, want)
			}
			tmp, err := os.ReadFile(nameFile)
			if err != nil {
				t.Fatal(err)
			}
			base := filepath.Base(string(tmp))
			if !strings.HasPrefix(base, "luna-") || !strings.HasSuffix(base, ".tmp") {
				t.Errorf("temporary file %q does not match luna-*.tmp", base)
			}
			if _, err := os.Stat(string(tmp)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary file %q not removed (stat error %v)", tmp, err)
			}
		})
	}
}

func TestReadInteractiveEmptyOld(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "printf 'first\\n\\n' >> \"$1\"\n")
	got, err := Read(context.Background(), nil, true, "", script)
	if err != nil {
		t.Fatalf("Read error: %v", err)
	}
	if got != "first" {
		t.Errorf("Read = %q, want %q", got, "first")
	}
}

func TestReadEditorFails(t *testing.T) {
	script := writeScript(t, t.TempDir(), "exit 3\n")
	_, err := Read(context.Background(), nil, true, "old", script)
	if err == nil {
		t.Fatal("Read with a failing editor returned nil error")
	}
	if want := `editor "` + script + `" failed: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
}

func TestReadEditorMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-editor")
	if _, err := Read(context.Background(), nil, true, "old", missing); err == nil {
		t.Fatal("Read with a missing editor returned nil error")
	}
}

func TestReadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, strings.NewReader("x"), false, "", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with canceled context error = %v, want context.Canceled", err)
	}
}
