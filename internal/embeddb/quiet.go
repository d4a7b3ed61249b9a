package embeddb

import (
	"context"
	"log/slog"
	"strings"
)

// quietResponses demotes FerretDB's dump of every error response (the
// "Response header" and "Response message" records it logs at WARN) to
// DEBUG. The client gets that error and reports it; the MongoDB driver
// sends endSessions on every disconnect, which FerretDB answers with
// CommandNotFound, so at WARN these dumps filled the log at every `luna`
// call. `lunadb --log-level debug` shows them again.
type quietResponses struct{ h slog.Handler }

func (q quietResponses) Enabled(ctx context.Context, l slog.Level) bool { return q.h.Enabled(ctx, l) }

func (q quietResponses) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && (strings.HasPrefix(r.Message, "Response header:") || strings.HasPrefix(r.Message, "Response message:")) {
		if !q.h.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		d := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { d.AddAttrs(a); return true })
		r = d
	}
	return q.h.Handle(ctx, r)
}

func (q quietResponses) WithAttrs(as []slog.Attr) slog.Handler {
	return quietResponses{q.h.WithAttrs(as)}
}

func (q quietResponses) WithGroup(name string) slog.Handler {
	return quietResponses{q.h.WithGroup(name)}
}
