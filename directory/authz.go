package directory

// Who may do what (guide sections 1 and 2, and the glossary). Each predicate
// takes the signed-in account as actor; a session exists only for active
// accounts. Nobody acts outside their structure or service, and nobody
// hands out a profile they do not hold themselves, agents excepted.

func (p *Person) isAgent() bool { return p != nil && p.Role == RoleAgent && p.State == StateActive }

func (p *Person) isAdminOf(siret string) bool {
	return p != nil && p.Role == RoleAdministrateur && p.State == StateActive && p.SIRET == siret
}

// CanCreateStructure: DGFiP agents only.
func CanCreateStructure(actor *Person) bool { return actor.isAgent() }

// CanDeclareApplication: DGFiP agents only.
func CanDeclareApplication(actor *Person) bool { return actor.isAgent() }

// CanManageServices: the administrators of the structure.
func CanManageServices(actor *Person, siret string) bool { return actor.isAdminOf(siret) }

// CanInvite says whether actor may pre-create an account of that role there:
// agents pre-create administrators; administrators, responsables and
// collaborateurs of their structure; responsables, collaborateurs of their service.
func CanInvite(actor *Person, role Role, siret, service string) bool {
	if actor == nil || actor.State != StateActive {
		return false
	}
	switch actor.Role {
	case RoleAgent:
		return role == RoleAdministrateur
	case RoleAdministrateur:
		return actor.SIRET == siret && role.InService()
	case RoleResponsable:
		return actor.SIRET == siret && actor.Service == service && role == RoleCollaborateur
	}
	return false
}

// CanInviteInBulk: those who may invite someone into the structure
// (CanInvite) may send it a file of invitations: its administrators, its
// responsables (into their service), agents (its administrators).
func CanInviteInBulk(actor *Person, siret string) bool {
	return CanInvite(actor, RoleAdministrateur, siret, "") || actor != nil && CanInvite(actor, RoleCollaborateur, siret, actor.Service)
}

// CanManage says whether actor decides the requests of target and manages
// the account (disable, enable, remove, send the link again): the same
// people who could have invited it.
func CanManage(actor, target *Person) bool {
	return target != nil && target.Role != RoleAgent && CanInvite(actor, target.Role, target.SIRET, target.Service)
}

// CanChooseService says whether the invitee of invited may put its
// request in that service when filling the form: its own, or one where
// whoever invited (inviter, nil when gone) could have invited it. So the
// request stays in the inviter's reach: a responsable's invitation is for
// their service, an administrator's for any service of the structure.
func CanChooseService(inviter, invited *Person, service string) bool {
	return service == invited.Service || CanInvite(inviter, invited.Role, invited.SIRET, service)
}

// CanHabilitate says whether actor may grant or withdraw that profile to
// target: agents habilitate administrators; administrators and responsables
// the accounts they manage, with profiles they hold themselves.
func CanHabilitate(actor, target *Person, application, profile string) bool {
	if target == nil || target.State != StateActive || !CanManage(actor, target) {
		return false
	}
	return actor.isAgent() || actor.HasProfile(application, profile)
}

// CanMove: an administrator moves responsables and collaborateurs between
// the services of their structure.
func CanMove(actor, target *Person) bool {
	return target != nil && target.Role.InService() && actor.isAdminOf(target.SIRET)
}

// CanConsult: every account of a structure sees its structure; agents see all.
func CanConsult(actor *Person, siret string) bool {
	if actor == nil || actor.State != StateActive {
		return false
	}
	return actor.Role == RoleAgent || actor.SIRET == siret
}

// CanSeeAccount: the accounts of one's structure (CanConsult); the accounts
// of agents, who belong to no structure, to agents only.
func CanSeeAccount(actor, target *Person) bool {
	if target == nil {
		return false
	}
	if target.Role == RoleAgent {
		return actor.isAgent()
	}
	return CanConsult(actor, target.SIRET)
}

// CanSeeHistory: the administrators of the account's structure, and agents.
func CanSeeHistory(actor, target *Person) bool {
	if target == nil {
		return false
	}
	return actor.isAgent() || target.Role != RoleAgent && actor.isAdminOf(target.SIRET)
}

// CanReview: who confirms or withdraws a habilitation in a review of
// habilitations: those who could grant or withdraw it (CanHabilitate),
// whatever the account's state now, so that the line of an account
// disabled since the review started is decided too.
func CanReview(actor, target *Person, application, profile string) bool {
	if target == nil || !CanManage(actor, target) {
		return false
	}
	return actor.isAgent() || actor.HasProfile(application, profile)
}

// isReviewer: the roles that review habilitations (administrators,
// responsables, agents), active.
func (p *Person) isReviewer() bool {
	return p != nil && p.State == StateActive && p.Role != RoleCollaborateur && p.Role.Valid()
}

// CanSeeReviewProgress: a structure's progress in a review, reviewer by
// reviewer: agents, and the structure's administrators.
func CanSeeReviewProgress(actor *Person, siret string) bool {
	return actor.isAgent() || actor.isAdminOf(siret)
}

// CanHelp: those who manage an account (CanManage), and agents for every
// account of a structure (the DGFiP's helpdesk): its state at a glance,
// unlocking it, a renewal link, a correction of its mail, the cancellation
// of its invitation. Never an agent's account: apexctl manages those.
func CanHelp(actor, target *Person) bool {
	if target == nil || target.Role == RoleAgent {
		return false
	}
	return actor.isAgent() || CanManage(actor, target)
}

// CanExportAccounts: the administrators of the structure export its accounts.
func CanExportAccounts(actor *Person, siret string) bool { return actor.isAdminOf(siret) }

// CanExportHabilitations: agents export the habilitations of an application.
func CanExportHabilitations(actor *Person) bool { return actor.isAgent() }
