package directory

import (
	"errors"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Error codes of the ppolicy response control (draft-behera-ldap-password-policy).
const (
	ppolicyAccountLocked               = 1
	ppolicyInsufficientPasswordQuality = 5
	ppolicyPasswordTooShort            = 6
	ppolicyPasswordInHistory           = 8
)

// translate maps an LDAP failure to this package's sentinels, wrapped with
// the operation's name. It reads result codes and the ppolicy response
// control, never the server's message text.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var lerr *ldap.Error
	if !errors.As(err, &lerr) {
		return fmt.Errorf("%s: %w", op, err)
	}
	pp := ppolicyError(lerr.Packet)
	var sentinel error
	switch lerr.ResultCode {
	case ldap.LDAPResultEntryAlreadyExists, ldap.LDAPResultAttributeOrValueExists,
		ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultNotAllowedOnNonLeaf, ldap.LDAPResultAssertionFailed:
		sentinel = ErrConflict
	case ldap.LDAPResultNoSuchObject:
		sentinel = ErrNotFound
	case ldap.LDAPResultConstraintViolation:
		switch pp {
		case ppolicyPasswordInHistory:
			sentinel = ErrPasswordInHistory
		case ppolicyInsufficientPasswordQuality, ppolicyPasswordTooShort:
			sentinel = ErrPasswordPolicy
		default:
			sentinel = ErrConflict // the unique overlay
		}
	case ldap.LDAPResultObjectClassViolation, ldap.LDAPResultInvalidAttributeSyntax,
		ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultNamingViolation, ldap.LDAPResultUndefinedAttributeType:
		sentinel = ErrInvalid
	case ldap.LDAPResultInvalidCredentials:
		sentinel = ErrInvalidCredentials
		if pp == ppolicyAccountLocked {
			sentinel = ErrAccountLocked
		}
	case ldap.LDAPResultInsufficientAccessRights:
		sentinel = ErrForbidden
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
		ldap.LDAPResultTimeout, ldap.LDAPResultConnectError, ldap.ErrorNetwork:
		sentinel = ErrUnavailable
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w (%w)", op, sentinel, err)
}

// isNetworkError reports whether the connection that returned err is unusable.
func isNetworkError(err error) bool {
	return ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultServerDown, ldap.LDAPResultUnavailable, ldap.LDAPResultConnectError, ldap.LDAPResultTimeout)
}

// ppolicyError returns the error of the ppolicy response control carried by a
// response packet, or -1. go-ldap keeps a failed operation's controls only in
// the packet.
func ppolicyError(packet *ber.Packet) int {
	if packet == nil || len(packet.Children) < 3 {
		return -1
	}
	return ppolicyFromControls(packet.Children[2].Children)
}

func ppolicyFromControls(children []*ber.Packet) int {
	for _, child := range children {
		c, err := ldap.DecodeControl(child)
		if err != nil {
			continue
		}
		if pp, ok := c.(*ldap.ControlBeheraPasswordPolicy); ok {
			return int(pp.Error)
		}
	}
	return -1
}
