package directory

import "time"

// AccountStatus is an account at a glance, for those who help its owner
// (CanHelp): its state, how it is locked out and until when, its last
// sign-in and when its password last changed (on Person).
type AccountStatus struct {
	Person *Person
	// PolicyLockedUntil is when ppolicy's lockout ends: after too many
	// failed binds (DGFiP applications' included), slapd refuses every
	// bind of the account, the espace's password check included; zero
	// when not locked. PolicyLockedForever: locked with no end (by hand,
	// or a policy without a lockout duration).
	PolicyLockedUntil   time.Time
	PolicyLockedForever bool
	// SignInLockedUntil is when the espace's sign-in of the identifier
	// opens again from the addresses the account never signed in from
	// (limit signin_identifier), SignInKnownLockedUntil from those it did
	// (signin_identifier_known); zero when open.
	SignInLockedUntil      time.Time
	SignInKnownLockedUntil time.Time
}

// Locked reports whether any of the lockouts holds.
func (st *AccountStatus) Locked() bool {
	return st.PolicyLockedForever || !st.PolicyLockedUntil.IsZero() ||
		!st.SignInLockedUntil.IsZero() || !st.SignInKnownLockedUntil.IsZero()
}

// LockedUntil is when the last of the lockouts ends; zero when none holds
// or one holds with no end.
func (st *AccountStatus) LockedUntil() time.Time {
	if st.PolicyLockedForever {
		return time.Time{}
	}
	var until time.Time
	for _, t := range []time.Time{st.PolicyLockedUntil, st.SignInLockedUntil, st.SignInKnownLockedUntil} {
		if t.After(until) {
			until = t
		}
	}
	return until
}
