package schedule

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the image has no zoneinfo; see doc.go

	"github.com/robfig/cron/v3"
)

// WhileRunning values: what a tick does while the previous run is still
// going.
const (
	// Skip drops the tick (the default).
	Skip = "skip"
	// Queue keeps the tick waiting, and starts one run when the previous
	// run ends.
	Queue = "queue"
)

// MinInterval is the shortest time Parse allows between two ticks. Each
// tick is a training run and a commit, and a schedule that fires every
// minute is nearly always the classic slip of "* 3 * * 0" (every minute
// from 03:00 to 03:59 on Sundays) for "0 3 * * 0".
const MinInterval = 5 * time.Minute

// Schedule is a training schedule as the spec writes it.
type Schedule struct {
	// Cron is a 5-field cron expression (minute hour day-of-month month
	// day-of-week), or a descriptor such as @daily or @weekly.
	Cron string
	// TimeZone is an IANA time zone name, such as Europe/Berlin; "" is
	// UTC.
	TimeZone string
	// WhileRunning is Skip ("" means skip) or Queue.
	WhileRunning string
}

// Parsed is a Schedule ready to compute ticks.
type Parsed struct {
	Schedule
	spec *cron.SpecSchedule
	// wall is spec evaluated in UTC, where every wall-clock time exists
	// once: it tells whether a wall-clock time matches.
	wall *cron.SpecSchedule
	loc  *time.Location
}

// Parse checks and compiles a schedule, refusing one that can fire more
// often than every MinInterval. Its errors name the field (cron,
// timeZone, whileRunning) and what would be valid.
func Parse(s Schedule) (*Parsed, error) {
	return ParseMin(s, MinInterval)
}

// ParseMin is Parse with another shortest interval between ticks: 0
// allows every minute (for tests that cannot wait five minutes).
func ParseMin(s Schedule, minInterval time.Duration) (*Parsed, error) {
	switch s.WhileRunning {
	case "", Skip, Queue:
	default:
		return nil, fmt.Errorf("whileRunning %q: valid values are %q (the default: a tick while the previous run is still going is dropped) and %q (it waits and starts one run when the previous run ends)", s.WhileRunning, Skip, Queue)
	}
	loc, err := location(s.TimeZone)
	if err != nil {
		return nil, err
	}
	expr := strings.TrimSpace(s.Cron)
	const example = `write five fields, minute hour day-of-month month day-of-week, such as "0 3 * * 0" (Sundays at 03:00), or @hourly, @daily, @weekly, @monthly`
	switch {
	case expr == "":
		return nil, fmt.Errorf("cron is empty: %s", example)
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, fmt.Errorf("cron %q names a time zone: write the expression alone and the zone in timeZone", s.Cron)
	case strings.HasPrefix(expr, "@every"):
		return nil, fmt.Errorf("cron %q: @every counts from whenever the server started, not from the clock; %s", s.Cron, example)
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v; %s", s.Cron, err, example)
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("cron %q is not a calendar schedule; %s", s.Cron, example)
	}
	spec.Location = loc
	wall := *spec
	wall.Location = time.UTC
	p := &Parsed{Schedule: s, spec: spec, wall: &wall, loc: loc}
	if p.WhileRunning == "" {
		p.WhileRunning = Skip
	}
	if p.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, fmt.Errorf("cron %q never fires (a day that no month has, such as the 30th of February?)", s.Cron)
	}
	if gap, at := p.shortestGap(); gap < minInterval {
		return nil, fmt.Errorf("cron %q fires twice within %s (at %s and %s); a schedule may fire at most every %s: is the minute field * where a single minute was meant (\"0 3 * * 0\", not \"* 3 * * 0\")?",
			s.Cron, gap, at.Format("Mon 15:04"), at.Add(gap).In(loc).Format("15:04"), minInterval)
	}
	return p, nil
}

// location loads an IANA time zone; "" is UTC, and "Local" is refused
// (it would be the server's zone, which git does not record).
func location(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf(`timeZone "Local" is the server's zone; name an IANA zone such as "Europe/Berlin" or "UTC"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("timeZone %q is not an IANA time zone name; valid are names such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"", name)
	}
	return loc, nil
}

// shortestGap returns the shortest time between two of the schedule's
// first 1,000 ticks from 2026-01-01 (or its first two years), and when
// it starts. The minute and hour fields repeat on every day the schedule
// fires, so a burst shows on its first such day.
func (p *Parsed) shortestGap() (time.Duration, time.Time) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, p.loc)
	end := from.AddDate(2, 0, 0)
	shortest, at := time.Duration(1<<63-1), time.Time{}
	prev := p.Next(from)
	for i := 0; i < 1000 && !prev.IsZero() && prev.Before(end); i++ {
		next := p.Next(prev)
		if next.IsZero() {
			break
		}
		if gap := next.Sub(prev); gap < shortest {
			shortest, at = gap, prev
		}
		prev = next
	}
	return shortest, at
}

// Location returns the schedule's time zone.
func (p *Parsed) Location() *time.Location { return p.loc }

// Next returns the first tick after the time after, in the schedule's
// time zone, or the zero time when none comes within five years.
func (p *Parsed) Next(after time.Time) time.Time {
	after = after.In(p.loc)
	for {
		t := p.spec.Next(after)
		if t.IsZero() {
			return t
		}
		if g := p.gapTick(after, t); !g.IsZero() {
			return g
		}
		if p.repeated(t) {
			after = t
			continue
		}
		return t
	}
}

// gapTick returns the end of the first clock jump forward in (after, t]
// that swallowed a matching wall-clock time (the tick robfig/cron skips),
// or the zero time.
func (p *Parsed) gapTick(after, t time.Time) time.Time {
	z := after
	for {
		_, end := z.ZoneBounds()
		if end.IsZero() || end.After(t) {
			return time.Time{}
		}
		_, before := end.Add(-time.Nanosecond).Zone()
		_, offset := end.Zone()
		if offset > before {
			// the wall clock jumps from wallFrom to wallTo: times in between
			// do not exist that day
			w := end.In(p.loc)
			wallTo := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
			wallFrom := wallTo.Add(-time.Duration(offset-before) * time.Second)
			if m := p.wall.Next(wallFrom.Add(-time.Second)); !m.IsZero() && m.Before(wallTo) {
				return end
			}
		}
		z = end
	}
}

// repeated reports whether t's wall-clock time already happened earlier
// that day (the clocks went back in between).
func (p *Parsed) repeated(t time.Time) bool {
	t = t.In(p.loc)
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-d).In(p.loc)
		if e.Year() == t.Year() && e.YearDay() == t.YearDay() && e.Hour() == t.Hour() && e.Minute() == t.Minute() && e.Second() == t.Second() {
			return true
		}
	}
	return false
}

// Due returns the tick that should start a run at now, or the zero time.
//
// last is the tick of the last scheduled run; with none yet (zero), base
// is when the schedule was first seen, so that a new schedule does not
// fire for a tick before it existed (both zero: nothing is due). Only the
// latest tick in (last or base, now] counts: after downtime, the missed
// ticks run once.
//
// prevRunning and prevFinishedAt describe the app's previous run (zero
// prevFinishedAt: none, or still running). With Skip, a tick at which the
// previous run was still going (running now, or finished after the tick)
// is dropped: Due returns zero until a later tick. With Queue, such a
// tick waits: Due returns it with waiting true while the previous run
// goes on, and without once it has ended.
func (p *Parsed) Due(now, last, base time.Time, prevRunning bool, prevFinishedAt time.Time) (tick time.Time, waiting bool) {
	from := last
	if from.IsZero() {
		from = base
	}
	if from.IsZero() || !now.After(from) {
		return time.Time{}, false
	}
	tick = p.latest(from, now)
	if tick.IsZero() {
		return time.Time{}, false
	}
	busy := prevRunning || prevFinishedAt.After(tick)
	switch {
	case !busy:
		return tick, false
	case p.WhileRunning == Queue && prevRunning:
		return tick, true
	case p.WhileRunning == Queue:
		return tick, false
	default:
		return time.Time{}, false
	}
}

// latest returns the latest tick in (from, now], or the zero time. It
// looks back from now over growing windows, so that a long downtime
// under a frequent schedule does not walk every missed tick: the latest
// tick of a window that ends at now and has one is the latest of all.
func (p *Parsed) latest(from, now time.Time) time.Time {
	for _, back := range []time.Duration{time.Hour, 26 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 0} {
		start := now.Add(-back)
		if back == 0 || start.Before(from) {
			start = from
		}
		var found time.Time
		for t := p.Next(start); !t.IsZero() && !t.After(now); t = p.Next(t) {
			found = t
		}
		if !found.IsZero() || start.Equal(from) {
			return found
		}
	}
	return time.Time{}
}
