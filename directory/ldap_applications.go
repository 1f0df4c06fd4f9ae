package directory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// placeholderDN is a member of every profile, so that a profile without
// habilitations stays a valid groupOfNames; no entry has this DN.
func (s *Store) placeholderDN() string { return "cn=nobody," + s.system }

// CreateApplication adds an application and its profiles. If a profile
// cannot be added, what was added is removed. Errors: ErrInvalid,
// ErrConflict when the application exists.
func (s *Store) CreateApplication(ctx context.Context, a Application) error {
	const op = "create application"
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.applicationDN(a.ID), nil)
		req.Attribute("objectClass", []string{"organizationalUnit", "apexApplication"})
		req.Attribute("ou", []string{a.ID})
		req.Attribute("apexLabel", []string{a.Name})
		if len(a.RedirectURIs) > 0 {
			req.Attribute("apexRedirectURI", a.RedirectURIs)
		}
		if a.HomeURL != "" {
			req.Attribute("apexHomeURL", []string{a.HomeURL})
		}
		return c.Add(req)
	})
	if err != nil {
		return err
	}
	for _, p := range a.Profiles {
		if err := s.CreateProfile(ctx, a.ID, p); err != nil {
			return errors.Join(err, s.DeleteApplication(context.WithoutCancel(ctx), a.ID))
		}
	}
	return nil
}

// CreateProfile adds a profile to an application. Errors: ErrInvalid,
// ErrNotFound when the application does not exist, ErrConflict when the
// profile exists.
func (s *Store) CreateProfile(ctx context.Context, app, profile string) error {
	const op = "create profile"
	if !validSlug(profile) {
		return fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"profile", "Le profil ne doit contenir que des lettres minuscules, des chiffres et des tirets."}}})
	}
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.profileDN(app, profile), nil)
		req.Attribute("objectClass", []string{"groupOfNames", "apexProfile"})
		req.Attribute("cn", []string{profile})
		req.Attribute("member", []string{s.placeholderDN()})
		return c.Add(req)
	})
}

// UpdateApplication changes an application's name, redirect URIs or home
// URL. Errors: ErrInvalid, ErrNotFound.
func (s *Store) UpdateApplication(ctx context.Context, id string, u ApplicationUpdate) error {
	const op = "update application"
	if err := u.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req := ldap.NewModifyRequest(s.applicationDN(id), nil)
	if u.Name != nil {
		req.Replace("apexLabel", []string{*u.Name})
	}
	if u.RedirectURIs != nil {
		req.Replace("apexRedirectURI", *u.RedirectURIs)
	}
	if u.HomeURL != nil {
		var home []string
		if *u.HomeURL != "" {
			home = []string{*u.HomeURL}
		}
		req.Replace("apexHomeURL", home)
	}
	if len(req.Changes) == 0 {
		return nil
	}
	return s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) })
}

// FindApplication returns an application and its profiles. Errors: ErrNotFound.
func (s *Store) FindApplication(ctx context.Context, id string) (*Application, error) {
	apps, err := s.listApplications(ctx, "find application", s.applicationDN(id))
	if err != nil {
		return nil, err
	}
	if len(apps) != 1 {
		return nil, fmt.Errorf("find application: %w", ErrNotFound)
	}
	return &apps[0], nil
}

// applications returns every application with its profiles, by id.
func (s *Store) applications(ctx context.Context) ([]Application, error) {
	return s.listApplications(ctx, "list applications", s.applicationsDN())
}

func (s *Store) listApplications(ctx context.Context, op, base string) ([]Application, error) {
	entries, err := s.searchAll(ctx, op, base, ldap.ScopeWholeSubtree,
		"(|(objectClass=apexApplication)(objectClass=apexProfile))", []string{"ou", "cn", "apexLabel", "apexRedirectURI", "apexHomeURL", "objectClass"})
	if err != nil {
		return nil, err
	}
	byDN := map[string]*Application{}
	var order []string
	for _, e := range entries {
		if hasValue(e.GetAttributeValues("objectClass"), "apexApplication") {
			id, err := firstValue(e.DN)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			key := normDN(e.DN)
			if _, ok := byDN[key]; !ok {
				byDN[key] = &Application{Profiles: []string{}}
				order = append(order, key)
			}
			a := byDN[key]
			a.ID, a.Name = id, e.GetAttributeValue("apexLabel")
			a.RedirectURIs, a.HomeURL = e.GetAttributeValues("apexRedirectURI"), e.GetAttributeValue("apexHomeURL")
		}
	}
	for _, e := range entries {
		if !hasValue(e.GetAttributeValues("objectClass"), "apexProfile") {
			continue
		}
		dn, err := ldap.ParseDN(e.DN)
		if err != nil || len(dn.RDNs) < 2 {
			continue
		}
		parent := &ldap.DN{RDNs: dn.RDNs[1:]}
		if app, ok := byDN[normDN(parent.String())]; ok {
			app.Profiles = append(app.Profiles, dn.RDNs[0].Attributes[0].Value)
		}
	}
	out := make([]Application, 0, len(order))
	for _, key := range order {
		sort.Strings(byDN[key].Profiles)
		out = append(out, *byDN[key])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// deleteProfile removes a profile; its holders lose it at once (memberOf is
// derived from the profiles by dynlist). Errors: ErrNotFound.
func (s *Store) deleteProfile(ctx context.Context, app, profile string) error {
	return s.do(ctx, "delete profile", func(c *ldap.Conn) error {
		return c.Del(ldap.NewDelRequest(s.profileDN(app, profile), nil))
	})
}

// DeleteApplication removes an application and its profiles. Errors: ErrNotFound.
func (s *Store) DeleteApplication(ctx context.Context, id string) error {
	a, err := s.FindApplication(ctx, id)
	if err != nil {
		return err
	}
	for _, p := range a.Profiles {
		if err := s.deleteProfile(ctx, id, p); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return s.do(ctx, "delete application", func(c *ldap.Conn) error {
		return c.Del(ldap.NewDelRequest(s.applicationDN(id), nil))
	})
}

// AddHabilitation habilitates an account to a profile, without the
// checks and the mail of Accounts.Grant (the demo directory, tests);
// granting a profile held already changes nothing. Errors: ErrNotFound (account or profile).
func (s *Store) AddHabilitation(ctx context.Context, identifier, app, profile string) error {
	return s.grant(ctx, &Person{Identifier: identifier}, app, profile)
}

// grant is AddHabilitation for an account already read.
func (s *Store) grant(ctx context.Context, p *Person, app, profile string) error {
	const op = "grant profile"
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return err
	}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(s.profileDN(app, profile), nil)
		req.Add("member", []string{dn})
		err := c.Modify(req)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
			return nil
		}
		return err
	})
	return err
}

// RemoveHabilitation withdraws a profile from an account, without the
// checks of Accounts.Revoke (tests). Errors: ErrNotFound when the account,
// the profile or the habilitation does not exist.
func (s *Store) RemoveHabilitation(ctx context.Context, identifier, app, profile string) error {
	return s.revoke(ctx, &Person{Identifier: identifier}, app, profile)
}

// revoke withdraws a profile from an account already read. Errors:
// ErrNotFound when the profile or the habilitation does not exist.
func (s *Store) revoke(ctx context.Context, p *Person, app, profile string) error {
	const op = "revoke profile"
	dn, err := s.dnOf(ctx, op, p)
	if err != nil {
		return err
	}
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(s.profileDN(app, profile), nil)
		req.Delete("member", []string{dn})
		err := c.Modify(req)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
			return ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("habilitation not held"))
		}
		return err
	})
}

// ProfileMembers returns the identifiers of the accounts holding a profile.
// Errors: ErrNotFound.
func (s *Store) ProfileMembers(ctx context.Context, app, profile string) ([]string, error) {
	e, err := s.searchOne(ctx, "profile members", s.profileDN(app, profile), ldap.ScopeBaseObject, "(objectClass=apexProfile)", []string{"member"})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range e.GetAttributeValues("member") {
		dn, err := ldap.ParseDN(m)
		if err != nil || len(dn.RDNs) == 0 || dn.RDNs[0].Attributes[0].Type != "uid" {
			continue
		}
		ids = append(ids, dn.RDNs[0].Attributes[0].Value)
	}
	sort.Strings(ids)
	return ids, nil
}

// CreateClient adds the bind account of a DGFiP application, which reads
// people and profiles and writes nothing (slapd ACL), under the bind
// accounts' password policy (no lockout). Its password is also the
// application's OpenID client secret. It returns its DN.
// Errors: ErrInvalid, ErrConflict.
func (s *Store) CreateClient(ctx context.Context, id, password string) (string, error) {
	const op = "create client"
	if !validSlug(id) {
		return "", fmt.Errorf("%s: %w", op, &InvalidError{[]Problem{{"id", "L'identifiant ne doit contenir que des lettres minuscules, des chiffres et des tirets."}}})
	}
	if err := CheckPassword(password); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	dn := s.clientDN(id)
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"applicationProcess", "simpleSecurityObject"})
		req.Attribute("cn", []string{id})
		req.Attribute("userPassword", []string{password})
		// The bind accounts' policy, which never locks: its password is
		// also the OpenID client's secret, and ten wrong secrets at the
		// token endpoint must not stop the application's sign-ins.
		req.Attribute("pwdPolicySubentry", []string{s.systemPolicyDN()})
		return c.Add(req)
	})
	return dn, err
}

func hasValue(values []string, want string) bool {
	for _, v := range values {
		if strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}

func normDN(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return dn
	}
	return strings.ToLower(parsed.String())
}

// awaitRefint waits until refint has moved the profiles' member values off
// oldDNs, the former names of renamed accounts. refint rewrites them in the
// background, milliseconds after the rename, and memberOf (which dynlist
// derives from member) is right only once it has: waiting keeps a rename
// followed by a read consistent, as the memberof overlay used to. It gives
// up after a few seconds without an error: the rename itself is done.
func (s *Store) awaitRefint(ctx context.Context, oldDNs []string) {
	const chunk = 100
	deadline := time.Now().Add(5 * time.Second)
	for len(oldDNs) > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
		n := min(chunk, len(oldDNs))
		filters := make([]string, n)
		for i, dn := range oldDNs[:n] {
			filters[i] = eq("member", dn)
		}
		entries, err := s.searchAll(ctx, "await refint", s.applicationsDN(), ldap.ScopeWholeSubtree, or(filters...), []string{"1.1"})
		if err != nil {
			return
		}
		if len(entries) == 0 {
			oldDNs = oldDNs[n:]
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}
