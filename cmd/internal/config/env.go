package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ownVariables are the project's own APEX_ variables that set no key: test
// switches, read by tests and never by the programs. A name ending in "_"
// stands for every variable it starts; new switches go under APEX_TEST_.
var ownVariables = []string{"APEX_TEST_", "APEX_SCREENSHOTS"}

// hints describe the value of the keys whose default is empty or tells
// little, for the messages about variables that name no key; the others
// show their default.
var hints = map[string]string{
	"http.pprof_addr":            "e.g. 127.0.0.1:6060",
	"http.trusted_proxies":       "e.g. 10.0.0.1,192.168.0.0/16",
	"ldap.url":                   "e.g. ldaps://annuaire.example.fr:636",
	"ldap.bind_dn":               "e.g. cn=apexd,ou=system,dc=apex,dc=dgfip,dc=gouv,dc=fr",
	"ldap.bind_password":         "the service account's password",
	"ldap.ca_file":               "e.g. /etc/ssl/apex/ca.pem",
	"mail.smtp.host":             "e.g. smtp.example.fr",
	"mail.smtp.tls":              "none, starttls or tls",
	"mail.smtp.username":         "e.g. apex",
	"mail.smtp.password":         "the relay's password",
	"mail.agents_mailbox":        "e.g. apex-partenaires@dgfip.finances.gouv.fr",
	"dormancy.warnings":          "e.g. 360h,24h",
	"sms.gateway.url":            "e.g. https://sms.example.fr/send",
	"sms.gateway.method":         "POST, PUT or PATCH",
	"sms.gateway.headers":        `a JSON object, e.g. {"Authorization": "Bearer KEY"}`,
	"sms.gateway.body":           `a text/template, e.g. {"to": {{json .To}}, "text": {{json .Text}}}`,
	"sms.gateway.success_status": "e.g. 202, or 0 for any 2xx",
}

var envKeyReplacer = strings.NewReplacer(".", "_")

// EnvVar is the environment variable of a key: ldap.url is APEX_LDAP_URL.
func EnvVar(key string) string {
	return EnvPrefix + "_" + envKeyReplacer.Replace(strings.ToUpper(key))
}

// checkEnv refuses the APEX_ variables of environ that name no key, but
// the project's own: viper would ignore them without a word, leaving the
// key the user meant at its value (APEX_LIMITS_SIGNIN_IDENTIFIER_MAX=0
// turns no limit off). Each is reported with the nearest keys.
func checkEnv(environ []string) error {
	known := map[string]bool{}
	for _, d := range defaults {
		known[EnvVar(d.key)] = true
	}
	var problems []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if known[name] || !strings.HasPrefix(strings.ToUpper(name), EnvPrefix+"_") || ownVariable(name) {
			continue
		}
		problems = append(problems, unknownVariable(name))
	}
	slices.Sort(problems)
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("config: %s", problems[0])
	}
	return fmt.Errorf("config: %d %s_ variables name no key:\n  %s", len(problems), EnvPrefix, strings.Join(problems, "\n  "))
}

func ownVariable(name string) bool {
	name = strings.ToUpper(name)
	for _, own := range ownVariables {
		if name == own || strings.HasSuffix(own, "_") && strings.HasPrefix(name, own) {
			return true
		}
	}
	return false
}

// unknownVariable says that the variable name names no key, and which
// ones it may have meant.
func unknownVariable(name string) string {
	keys := nearestKeys(name)
	if len(keys) == 0 {
		return fmt.Sprintf("%s names no key: unset it; each %s_ variable sets the key it names (ldap.url is %s), and config.yaml lists them all",
			name, EnvPrefix, EnvVar("ldap.url"))
	}
	meant := make([]string, len(keys))
	for i, k := range keys {
		meant[i] = EnvVar(k)
	}
	if len(keys) > 2 { // a section's keys, say: their names alone
		return fmt.Sprintf("%s names no key; did you mean one of %s?", name, strings.Join(meant, ", "))
	}
	for i, k := range keys {
		meant[i] += fmt.Sprintf(" (%s, %s)", k, hint(k))
	}
	return fmt.Sprintf("%s names no key; did you mean %s?", name, strings.Join(meant, " or "))
}

// nearestKeys are the keys name most likely meant: those whose variable
// has the same words in the same order, but for words left out or added
// (APEX_SMTP_HOST for APEX_MAIL_SMTP_HOST, APEX_LIMITS_SIGNIN_IDENTIFIER_MAX
// for APEX_LIMITS_SIGNIN_IDENTIFIER) or shortened (PASS for PASSWORD), the
// fewest first; otherwise the keys whose variable is the fewest edits away
// (Levenshtein's distance), when few enough to be a typo: at most half the
// letters after APEX_, and at least 2.
func nearestKeys(name string) []string {
	name = strings.ToUpper(name)
	words := strings.Split(name, "_")
	var byWords, byEdits []string
	fewestWords, fewestEdits := math.MaxInt, max(2, (len(name)-len(EnvPrefix)-1)/2)
	for _, d := range defaults {
		v := EnvVar(d.key)
		if n, ok := wordsApart(words, strings.Split(v, "_")); ok {
			byWords, fewestWords = lowest(byWords, fewestWords, d.key, n)
		}
		byEdits, fewestEdits = lowest(byEdits, fewestEdits, d.key, distance(name, v))
	}
	if byWords != nil {
		return byWords
	}
	return byEdits
}

// wordsApart counts the words that one of a and b has more than the other,
// when the other's words are all in it, in order. A word matches the same
// word, or one that it starts or that starts it, from three letters.
func wordsApart(a, b []string) (int, bool) {
	if len(a) > len(b) {
		a, b = b, a
	}
	i := 0
	for _, w := range b {
		if i < len(a) && sameWord(a[i], w) {
			i++
		}
	}
	return len(b) - len(a), i == len(a)
}

func sameWord(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == b || len(a) >= 3 && strings.HasPrefix(b, a)
}

// lowest keeps the keys of the lowest score, best at most.
func lowest(keys []string, best int, key string, score int) ([]string, int) {
	switch {
	case score < best:
		return []string{key}, score
	case score == best:
		return append(keys, key), best
	}
	return keys, best
}

// distance is the Levenshtein distance of a and b: the fewest characters
// to insert, delete or replace to turn one into the other.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := range ra {
		cur[0] = i + 1
		for j := range rb {
			cost := 1
			if ra[i] == rb[j] {
				cost = 0
			}
			cur[j+1] = min(prev[j+1]+1, cur[j]+1, prev[j]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// hint describes the value of a key: its entry in hints, or its default.
func hint(key string) string {
	if h, ok := hints[key]; ok {
		return h
	}
	i := slices.IndexFunc(defaults, func(d defaultValue) bool { return d.key == key })
	if i < 0 {
		return ""
	}
	var s string
	switch v := defaults[i].value.(type) {
	case string:
		s = v
	case time.Duration:
		s = v.String()
	case int:
		s = strconv.Itoa(v)
	case bool:
		return "true or false"
	}
	if s == "" {
		return ""
	}
	// Durations without their zero units: 1h0m0s is 1h, 4/15m0s is 4/15m.
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if strings.HasPrefix(key, "limits.") {
		s += " or off"
	}
	return "e.g. " + s
}
