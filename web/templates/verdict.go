package templates

// VerdictView is the "does your User-Agent match your TLS?" box of "/".
type VerdictView struct {
	// Claimed is what the User-Agent says ("chrome 156 on linux").
	Claimed    string
	Consistent bool
	Reason     string
	Markers    []string
	// Differences contradict the claimed browser family.
	Differences []DiffRow
	// Closest is the closest known profile's name and URL ("" for none).
	Closest    string
	ClosestURL string
	// ProfileDiffs are the fields that differ from it.
	ProfileDiffs []DiffRow
}

// DiffRow is one differing field.
type DiffRow struct {
	Field    string
	Claimed  string
	Observed string
}
