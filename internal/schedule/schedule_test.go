package schedule

import (
	"strings"
	"testing"
	"time"
)

var berlin = mustLoad("Europe/Berlin")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a wall-clock time in Berlin; utc is one in UTC. 2026's clock
// changes in Berlin: Sunday 29 March, 02:00 CET → 03:00 CEST, and Sunday
// 25 October, 03:00 CEST → 02:00 CET (both at 01:00 UTC).
func at(month time.Month, day, hour, min int) time.Time {
	return time.Date(2026, month, day, hour, min, 0, 0, berlin)
}

func utc(month time.Month, day, hour, min int) time.Time {
	return time.Date(2026, month, day, hour, min, 0, 0, time.UTC)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		s       Schedule
		min     time.Duration // ParseMin's; -1 for Parse
		wantErr string
	}{
		{name: "weekly in Berlin", s: Schedule{Cron: "0 3 * * 0", TimeZone: "Europe/Berlin", WhileRunning: "skip"}, min: -1},
		{name: "queue", s: Schedule{Cron: "0 3 * * 0", WhileRunning: "queue"}, min: -1},
		{name: "every five minutes", s: Schedule{Cron: "*/5 * * * *"}, min: -1},
		{name: "descriptor", s: Schedule{Cron: "@daily", TimeZone: "UTC"}, min: -1},
		{name: "every minute, allowed by ParseMin", s: Schedule{Cron: "* * * * *"}, min: 0},
		{name: "whileRunning", s: Schedule{Cron: "0 3 * * 0", WhileRunning: "sometimes"}, min: -1,
			wantErr: `whileRunning "sometimes": valid values are "skip" (the default`},
		{name: "unknown zone", s: Schedule{Cron: "0 3 * * 0", TimeZone: "Europe/Berlinn"}, min: -1,
			wantErr: `timeZone "Europe/Berlinn" is not an IANA time zone name; valid are names such as "Europe/Berlin"`},
		{name: "server's zone", s: Schedule{Cron: "0 3 * * 0", TimeZone: "Local"}, min: -1, wantErr: `timeZone "Local" is the server's zone`},
		{name: "empty", s: Schedule{Cron: " "}, min: -1, wantErr: `cron is empty: write five fields, minute hour day-of-month month day-of-week`},
		{name: "four fields", s: Schedule{Cron: "0 3 * *"}, min: -1, wantErr: `cron "0 3 * *": expected exactly 5 fields, found 4`},
		{name: "six fields (seconds)", s: Schedule{Cron: "0 0 3 * * 0"}, min: -1, wantErr: `expected exactly 5 fields, found 6`},
		{name: "minute out of range", s: Schedule{Cron: "61 3 * * 0"}, min: -1, wantErr: `above maximum (59)`},
		{name: "time zone in the expression", s: Schedule{Cron: "CRON_TZ=Europe/Berlin 0 3 * * 0"}, min: -1, wantErr: `names a time zone: write the expression alone and the zone in timeZone`},
		{name: "every", s: Schedule{Cron: "@every 1h"}, min: -1, wantErr: `@every counts from whenever the server started`},
		{name: "never", s: Schedule{Cron: "0 0 30 2 *"}, min: -1, wantErr: `never fires`},
		{name: "every minute of an hour", s: Schedule{Cron: "* 3 * * 0"}, min: -1,
			wantErr: `cron "* 3 * * 0" fires twice within 1m0s (at Sun 03:00 and 03:01); a schedule may fire at most every 5m0s: is the minute field * where a single minute was meant`},
		{name: "every two minutes", s: Schedule{Cron: "*/2 * * * *"}, min: -1, wantErr: `fires twice within 2m0s`},
		{name: "across midnight", s: Schedule{Cron: "0,59 0,23 * * *"}, min: -1, wantErr: `fires twice within 1m0s`},
		{name: "every minute, ParseMin 2m", s: Schedule{Cron: "* * * * *"}, min: 2 * time.Minute, wantErr: `at most every 2m0s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *Parsed
			var err error
			if tt.min < 0 {
				p, err = Parse(tt.s)
			} else {
				p, err = ParseMin(tt.s, tt.min)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.s.WhileRunning == "" && p.WhileRunning != Skip {
				t.Errorf("whileRunning %q, want the default skip", p.WhileRunning)
			}
		})
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name  string
		cron  string
		zone  string
		after time.Time
		want  []time.Time // the next ticks, in order
	}{
		{name: "weekly in UTC", cron: "0 3 * * 0", after: utc(3, 1, 12, 0), want: []time.Time{utc(3, 8, 3, 0), utc(3, 15, 3, 0)}},
		{name: "weekly in Berlin, winter to summer time", cron: "0 3 * * 0", zone: "Europe/Berlin", after: at(3, 21, 12, 0),
			want: []time.Time{at(3, 22, 3, 0), at(3, 29, 3, 0), at(4, 5, 3, 0)}},
		{name: "a tick in the gap runs when it ends", cron: "30 2 * * *", zone: "Europe/Berlin", after: at(3, 28, 3, 0),
			want: []time.Time{utc(3, 29, 1, 0) /* 03:00 CEST */, at(3, 30, 2, 30)}},
		{name: "a weekly tick in the gap", cron: "30 2 * * 0", zone: "Europe/Berlin", after: at(3, 22, 3, 0),
			want: []time.Time{at(3, 29, 3, 0), at(4, 5, 2, 30)}},
		{name: "every 15 minutes over the gap", cron: "*/15 * * * *", zone: "Europe/Berlin", after: utc(3, 29, 0, 40),
			want: []time.Time{utc(3, 29, 0, 45) /* 01:45 CET */, utc(3, 29, 1, 0) /* 03:00 CEST */, utc(3, 29, 1, 15)}},
		{name: "a repeated wall-clock time runs once", cron: "30 2 * * *", zone: "Europe/Berlin", after: at(10, 24, 3, 0),
			want: []time.Time{utc(10, 25, 0, 30) /* 02:30 CEST */, utc(10, 26, 1, 30) /* 02:30 CET, Monday */}},
		{name: "from inside the repeated hour", cron: "30 2 * * *", zone: "Europe/Berlin", after: utc(10, 25, 1, 15), /* 02:15 CET, the second time */
			want: []time.Time{utc(10, 26, 1, 30)}},
		{name: "weekly at 3 over summer to winter time", cron: "0 3 * * 0", zone: "Europe/Berlin", after: at(10, 24, 12, 0),
			want: []time.Time{utc(10, 25, 2, 0) /* 03:00 CET */, at(11, 1, 3, 0)}},
		{name: "hourly over the repeated hour", cron: "0 * * * *", zone: "Europe/Berlin", after: utc(10, 24, 23, 30),
			want: []time.Time{utc(10, 25, 0, 0) /* 02:00 CEST */, utc(10, 25, 2, 0) /* 03:00 CET */}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(Schedule{Cron: tt.cron, TimeZone: tt.zone})
			if err != nil {
				t.Fatal(err)
			}
			after := tt.after
			for i, want := range tt.want {
				got := p.Next(after)
				if !got.Equal(want) {
					t.Fatalf("tick %d after %s: %s, want %s", i+1, after.In(p.Location()), got.In(p.Location()), want.In(p.Location()))
				}
				after = got
			}
		})
	}
}

func TestDue(t *testing.T) {
	weekly := Schedule{Cron: "0 3 * * 0", TimeZone: "Europe/Berlin"} // Sundays 03:00
	queue := weekly
	queue.WhileRunning = Queue
	sun1, sun2, sun3 := at(3, 1, 3, 0), at(3, 8, 3, 0), at(3, 15, 3, 0)
	tests := []struct {
		name           string
		s              Schedule
		now            time.Time
		last, base     time.Time
		prevRunning    bool
		prevFinishedAt time.Time
		want           time.Time
		wantWaiting    bool
	}{
		{name: "first tick after the schedule appeared", s: weekly, now: sun1.Add(time.Minute), base: at(2, 27, 9, 0), want: sun1},
		{name: "at the tick itself", s: weekly, now: sun1, base: at(2, 27, 9, 0), want: sun1},
		{name: "a second before the tick", s: weekly, now: sun1.Add(-time.Second), base: at(2, 27, 9, 0)},
		{name: "a tick before the schedule appeared", s: weekly, now: sun1.Add(time.Hour), base: sun1.Add(time.Minute)},
		{name: "no last tick and no base", s: weekly, now: sun1.Add(time.Hour)},
		{name: "the last tick already ran", s: weekly, now: sun1.Add(time.Hour), last: sun1, base: at(2, 1, 0, 0)},
		{name: "last wins over base", s: weekly, now: sun2.Add(time.Hour), last: sun1, base: sun2.Add(time.Minute), want: sun2},
		{name: "missed ticks run once: the latest", s: weekly, now: sun3.Add(48 * time.Hour), last: sun1, want: sun3},
		{name: "a clock behind the last tick", s: weekly, now: sun1.Add(-time.Hour), last: sun1},
		{name: "a year of downtime every five minutes", s: Schedule{Cron: "*/5 * * * *"}, now: utc(3, 1, 0, 2), last: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), want: utc(3, 1, 0, 0)},
		{name: "a yearly schedule after two years", s: Schedule{Cron: "0 0 1 1 *"}, now: time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC), last: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			want: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},

		{name: "skip: previous run finished before the tick", s: weekly, now: sun2.Add(time.Minute), last: sun1, prevFinishedAt: sun1.Add(5 * time.Hour), want: sun2},
		{name: "skip: previous run still running", s: weekly, now: sun2.Add(time.Minute), last: sun1, prevRunning: true},
		{name: "skip: previous run finished after the tick", s: weekly, now: sun2.Add(2 * time.Hour), last: sun1, prevFinishedAt: sun2.Add(time.Hour)},
		{name: "skip: the next tick after a dropped one", s: weekly, now: sun3.Add(time.Minute), last: sun1, prevFinishedAt: sun2.Add(time.Hour), want: sun3},
		{name: "skip: finished at the tick", s: weekly, now: sun2.Add(time.Minute), last: sun1, prevFinishedAt: sun2, want: sun2},

		{name: "queue: previous run still running", s: queue, now: sun2.Add(time.Minute), last: sun1, prevRunning: true, want: sun2, wantWaiting: true},
		{name: "queue: previous run ended after the tick", s: queue, now: sun2.Add(2 * time.Hour), last: sun1, prevFinishedAt: sun2.Add(time.Hour), want: sun2},
		{name: "queue: previous run finished before the tick", s: queue, now: sun2.Add(time.Minute), last: sun1, prevFinishedAt: sun1.Add(time.Hour), want: sun2},
		{name: "queue: ticks missed while running wait as one", s: queue, now: sun3.Add(time.Hour), last: sun1, prevRunning: true, want: sun3, wantWaiting: true},
		{name: "queue: nothing due", s: queue, now: sun1.Add(time.Hour), last: sun1, prevRunning: true},

		{name: "DST: a weekly tick in the spring gap", s: Schedule{Cron: "30 2 * * 0", TimeZone: "Europe/Berlin"}, now: at(3, 29, 5, 0), last: at(3, 22, 2, 30), want: at(3, 29, 3, 0)},
		{name: "DST: the repeated 02:30 does not run again", s: Schedule{Cron: "30 2 * * *", TimeZone: "Europe/Berlin"}, now: utc(10, 25, 1, 40) /* 02:40 CET */, last: utc(10, 25, 0, 30) /* 02:30 CEST */},
		{name: "DST: the next day's 02:30 runs", s: Schedule{Cron: "30 2 * * *", TimeZone: "Europe/Berlin"}, now: at(10, 26, 2, 31), last: utc(10, 25, 0, 30), want: at(10, 26, 2, 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			got, waiting := p.Due(tt.now, tt.last, tt.base, tt.prevRunning, tt.prevFinishedAt)
			if !got.Equal(tt.want) || waiting != tt.wantWaiting {
				t.Errorf("Due = %s waiting %v, want %s waiting %v", show(got, p), waiting, show(tt.want, p), tt.wantWaiting)
			}
		})
	}
}

func show(t time.Time, p *Parsed) string {
	if t.IsZero() {
		return "none"
	}
	return t.In(p.Location()).Format("Mon 2006-01-02 15:04 MST")
}
