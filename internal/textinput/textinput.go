// Package textinput reads free-form multi-line text, such as the value of a
// --comment option, either from a stream or by letting the user edit it in a
// text editor.
package textinput

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// DefaultEditor is the editor command used when none is given.
const DefaultEditor = "vi"

// Read returns the new text for a multi-line value.
//
// When interactive is false the text is all of in. Otherwise old is written
// to a temporary file (named like "luna-*.tmp", with a final newline added if
// it lacks one), the editor is run on that file with the process's standard
// input, output and error, and the edited file is read back and removed.
// editor is a command line split on spaces, e.g. "emacs -nw"; the file name
// is appended as the last argument, and an empty editor means DefaultEditor.
// An editor that cannot be started or exits unsuccessfully yields an error
// `editor "X" failed: ...`.
//
// All trailing line endings ("\n" and "\r\n") are removed from the result.
func Read(ctx context.Context, in io.Reader, interactive bool, old string, editor string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var text string
	var err error
	if interactive {
		text, err = edit(ctx, old, editor)
	} else {
		var b []byte
		b, err = io.ReadAll(in)
		text = string(b)
	}
	if err != nil {
		return "", err
	}
	return trimNewlines(text), nil
}

func edit(ctx context.Context, old, editor string) (text string, err error) {
	args := strings.Fields(editor)
	if len(args) == 0 {
		editor = DefaultEditor
		args = []string{DefaultEditor}
	}

	f, err := os.CreateTemp("", "luna-*.tmp")
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	name := f.Name()
	defer func() {
		if rerr := os.Remove(name); rerr != nil && err == nil {
			err = fmt.Errorf("remove temporary file: %w", rerr)
		}
	}()
	if old != "" && !strings.HasSuffix(old, "\n") {
		old += "\n"
	}
	_, werr := f.WriteString(old)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("write temporary file: %w", werr)
	}

	cmd := exec.CommandContext(ctx, args[0], append(args[1:], name)...)
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("editor %q failed: %w", editor, err)
	}

	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("read temporary file: %w", err)
	}
	return string(b), nil
}

// trimNewlines removes every trailing "\n" and "\r\n" from s.
func trimNewlines(s string) string {
	for {
		switch {
		case strings.HasSuffix(s, "\r\n"):
			s = s[:len(s)-2]
		case strings.HasSuffix(s, "\n"):
			s = s[:len(s)-1]
		default:
			return s
		}
	}
}
