package notify

import (
	"strconv"
	"time"
)

// How the mails and the SMS write times in French.

// frenchDuration writes a validity, rounded down to the minute, in
// French: « 1 minute », « 10 minutes », « 1 heure », « 2 heures »,
// « 1 heure et 30 minutes ».
func frenchDuration(d time.Duration) string {
	minutes := int(d / time.Minute)
	h, m := minutes/60, minutes%60
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	switch {
	case h == 0:
		return plural(m, "minute")
	case m == 0:
		return plural(h, "heure")
	default:
		return plural(h, "heure") + " et " + plural(m, "minute")
	}
}

var frenchMonths = [12]string{"janvier", "février", "mars", "avril", "mai", "juin",
	"juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// frenchDateTime writes t in Paris time as French does: « 1er mars 2026 à
// 09:05 », « 4 décembre 2026 à 15:04 ».
func frenchDateTime(t time.Time) string {
	t = t.In(paris)
	day := strconv.Itoa(t.Day())
	if t.Day() == 1 {
		day = "1er"
	}
	return day + " " + frenchMonths[t.Month()-1] + " " + strconv.Itoa(t.Year()) + " à " + t.Format("15:04")
}

// frenchDate writes the day of t in Paris time: « 1er mars 2026 », « 4
// décembre 2026 ».
func frenchDate(t time.Time) string {
	t = t.In(paris)
	day := strconv.Itoa(t.Day())
	if t.Day() == 1 {
		day = "1er"
	}
	return day + " " + frenchMonths[t.Month()-1] + " " + strconv.Itoa(t.Year())
}
