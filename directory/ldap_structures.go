package directory

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

var structureAttrs = []string{"apexSiret", "apexLabel", "apexCategory"}

// CreateStructure adds a structure. Errors: ErrInvalid (SIRET, name,
// category), ErrConflict when the SIRET is already there.
func (s *Store) CreateStructure(ctx context.Context, st Structure) error {
	const op = "create structure"
	if err := st.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.structureDN(st.SIRET), nil)
		req.Attribute("objectClass", []string{"organizationalUnit", "apexStructure"})
		req.Attribute("ou", []string{st.SIRET})
		req.Attribute("apexSiret", []string{st.SIRET})
		req.Attribute("apexLabel", []string{st.Name})
		req.Attribute("apexCategory", []string{st.Category})
		req.Attribute("apexSortKey", []string{structureSortKey(st.Name)})
		return c.Add(req)
	})
}

// FindStructure returns the structure of that SIRET. Errors: ErrNotFound.
func (s *Store) FindStructure(ctx context.Context, siret string) (*Structure, error) {
	siret = NormalizeSIRET(siret)
	if CheckSIRET(siret) != nil {
		return nil, fmt.Errorf("find structure: %w", ErrNotFound)
	}
	e, err := s.searchOne(ctx, "find structure", s.structureDN(siret), ldap.ScopeBaseObject, "(objectClass=apexStructure)", structureAttrs)
	if err != nil {
		return nil, err
	}
	return structureFromEntry(e), nil
}

func structureFromEntry(e *ldap.Entry) *Structure {
	return &Structure{
		SIRET:    e.GetAttributeValue("apexSiret"),
		Name:     e.GetAttributeValue("apexLabel"),
		Category: e.GetAttributeValue("apexCategory"),
	}
}

// CreateService adds a service to a structure. Errors: ErrInvalid,
// ErrNotFound when the structure does not exist, ErrConflict when the
// structure already has a service of that name.
func (s *Store) CreateService(ctx context.Context, sv Service) error {
	const op = "create service"
	sv.SIRET = NormalizeSIRET(sv.SIRET)
	if err := sv.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(s.serviceDN(sv.SIRET, sv.Name), nil)
		req.Attribute("objectClass", []string{"organizationalUnit", "apexService"})
		req.Attribute("ou", []string{sv.Name})
		req.Attribute("apexSiret", []string{sv.SIRET})
		return c.Add(req)
	})
}

// ListServices returns the services of a structure. Errors: ErrNotFound
// when the structure does not exist.
func (s *Store) ListServices(ctx context.Context, siret string) ([]Service, error) {
	siret = NormalizeSIRET(siret)
	entries, err := s.searchAll(ctx, "list services", s.structureDN(siret), ldap.ScopeSingleLevel, "(objectClass=apexService)", []string{"ou", "apexSiret"})
	if err != nil {
		return nil, err
	}
	out := make([]Service, len(entries))
	for i, e := range entries {
		name, err := firstValue(e.DN)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		out[i] = Service{SIRET: e.GetAttributeValue("apexSiret"), Name: name}
	}
	return out, nil
}

// FindService returns a service. Errors: ErrNotFound.
func (s *Store) FindService(ctx context.Context, siret, name string) (*Service, error) {
	siret = NormalizeSIRET(siret)
	if _, err := s.searchOne(ctx, "find service", s.serviceDN(siret, name), ldap.ScopeBaseObject, "(objectClass=apexService)", []string{"1.1"}); err != nil {
		return nil, err
	}
	return &Service{SIRET: siret, Name: name}, nil
}

// RenameService renames a service in one operation; its accounts move with
// it and their habilitations follow (refint). Errors: ErrInvalid,
// ErrNotFound, ErrConflict when the new name is taken.
func (s *Store) RenameService(ctx context.Context, siret, name, newName string) error {
	const op = "rename service"
	siret = NormalizeSIRET(siret)
	sv := Service{SIRET: siret, Name: newName}
	if err := sv.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := s.do(ctx, op, func(c *ldap.Conn) error {
		return c.ModifyDN(ldap.NewModifyDNRequest(s.serviceDN(siret, name), rdn("ou", sv.Name), true, ""))
	}); err != nil {
		return err
	}
	accounts, err := s.searchAll(ctx, op, s.serviceDN(siret, sv.Name), ldap.ScopeSingleLevel, eq("objectClass", "apexPerson"), []string{"1.1"})
	if err != nil {
		return nil // renamed: only the wait for refint is lost
	}
	oldDNs := make([]string, 0, len(accounts))
	for _, e := range accounts {
		if dn, err := ldap.ParseDN(e.DN); err == nil && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) == 1 {
			a := dn.RDNs[0].Attributes[0]
			oldDNs = append(oldDNs, rdn(a.Type, a.Value)+","+s.serviceDN(siret, name))
		}
	}
	s.awaitRefint(ctx, oldDNs)
	return nil
}

// deleteService removes a service without accounts. Errors: ErrNotFound,
// ErrConflict while it still has accounts.
func (s *Store) deleteService(ctx context.Context, siret, name string) error {
	siret = NormalizeSIRET(siret)
	return s.do(ctx, "delete service", func(c *ldap.Conn) error {
		return c.Del(ldap.NewDelRequest(s.serviceDN(siret, name), nil))
	})
}
