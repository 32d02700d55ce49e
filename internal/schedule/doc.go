// Package schedule decides when a training schedule (a 5-field cron
// expression in a time zone) starts a run, as a pure function of the
// schedule, the clock and the previous run.
//
// Ticks follow the wall clock of the schedule's time zone, with two
// corrections to github.com/robfig/cron (which Kubernetes' CronJob uses
// too) around daylight saving time, so that a daily or weekly run happens
// exactly once on the days the clocks change:
//
//   - a tick whose wall-clock time does not exist (02:30 in Europe/Berlin
//     on the last Sunday of March) happens when the gap ends (03:00 CEST),
//     as Vixie cron does, instead of being skipped for that day;
//   - a tick whose wall-clock time happens twice (02:30 on the last Sunday
//     of October) happens the first time only.
//
// After downtime, the missed ticks run once, not once each: Due returns
// only the latest tick not after now.
//
// The package imports time/tzdata: the dmls image is built from scratch,
// with no /usr/share/zoneinfo, and time.LoadLocation would fail there for
// every zone but UTC. It adds about 450 KB to the binary.
package schedule
