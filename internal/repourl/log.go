package repourl

import (
	"context"
	"fmt"
	"log/slog"
)

// LogHandler returns a handler that passes every record to h with its
// message and attribute values scrubbed (see Scrub): a URL that reaches a
// log line through an error, a string or a Stringer loses its credentials.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(scrubHandler); ok {
		return h
	}
	return scrubHandler{h}
}

type scrubHandler struct{ h slog.Handler }

func (s scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a))
		return true
	})
	return s.h.Handle(ctx, out)
}

func (s scrubHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := make([]slog.Attr, len(as))
	for i, a := range as {
		c[i] = scrubAttr(a)
	}
	return scrubHandler{s.h.WithAttrs(c)}
}

func (s scrubHandler) WithGroup(name string) slog.Handler { return scrubHandler{s.h.WithGroup(name)} }

func scrubAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		c := make([]any, len(g))
		for i, x := range g {
			c[i] = scrubAttr(x)
		}
		return slog.Group(a.Key, c...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Scrub(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, Scrub(x.String()))
		case []byte:
			return slog.String(a.Key, Scrub(string(x)))
		default:
			// A map or struct is logged as it is unless its text holds
			// a credential.
			if t := fmt.Sprint(x); Scrub(t) != t {
				return slog.String(a.Key, Scrub(t))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
