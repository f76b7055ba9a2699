package postgres

// Queries exported for the plan checks in curation_test.go.
var (
	PendingSQL        = pendingSQL
	WireGroupsSQL     = wireGroupsSQL
	DeleteVerdictsSQL = deleteVerdictsSQL
)
