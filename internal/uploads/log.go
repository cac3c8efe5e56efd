package uploads

import (
	"context"
	"log/slog"

	xslog "golang.org/x/exp/slog"
)

// TusdLogger returns the logger to give tusd: its warnings and errors go to
// h as warnings, its per-request info lines are dropped (the app logs every
// request).
func TusdLogger(h slog.Handler) *xslog.Logger { return xslog.New(tusdLog{h: h}) }

// tusdLog adapts h to the slog of golang.org/x/exp that tusd logs to.
type tusdLog struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (l tusdLog) Enabled(_ context.Context, level xslog.Level) bool { return level >= xslog.LevelWarn }

func (l tusdLog) Handle(ctx context.Context, r xslog.Record) error {
	rec := slog.NewRecord(r.Time, slog.LevelWarn, "tus: "+r.Message, r.PC)
	rec.AddAttrs(l.attrs...)
	r.Attrs(func(a xslog.Attr) bool {
		rec.AddAttrs(slog.Any(a.Key, a.Value.Any()))
		return true
	})
	return l.h.Handle(ctx, rec)
}

func (l tusdLog) WithAttrs(attrs []xslog.Attr) xslog.Handler {
	out := tusdLog{h: l.h, attrs: append([]slog.Attr(nil), l.attrs...)}
	for _, a := range attrs {
		out.attrs = append(out.attrs, slog.Any(a.Key, a.Value.Any()))
	}
	return out
}

func (l tusdLog) WithGroup(string) xslog.Handler { return l }
